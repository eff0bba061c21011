"""The process's choices for verbatim analysis: which spaCy pipeline, where trained models live.

`nlu` reads no environment and may not import `bot` (layering), so whoever holds the settings
hands these down: `bot.settings.load_settings` does it once at a process's start, from
`CANDOR_SPACY_MODEL` and `CANDOR_MODEL_DIR`. They are process-wide because what they choose is:
a spaCy pipeline and a trained classifier are loaded once per process and shared by every
caller. A caller may still pass its own choice (`get_pipeline("blank")`, `get_classifier(dir)`).
Kept free of spaCy, so choosing costs no import of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["AnalysisConfig", "configure", "current"]

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class AnalysisConfig:
    # "auto" (the best installed pipeline), "blank", or an installed package's name.
    spacy_model: str = "auto"
    # Trained classifiers are cached under `model_dir / "textcat"` (the engine's models beside).
    model_dir: Path = ROOT / ".candor" / "models"


_current = AnalysisConfig()


def current() -> AnalysisConfig:
    return _current


def configure(config: AnalysisConfig) -> AnalysisConfig:
    """Make `config` the process's choices; returns the previous ones, so a test can restore."""
    global _current
    previous, _current = _current, config
    return previous
