"""The benchmarks measure Candor as it is: their stores are built through storage's own
functions (readable by every reader there), and the NLU threshold script takes the control
intents from the contract rather than from a copy that can go stale."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from benchmarks import answer_mix, dashboard, scaling
from benchmarks.nlu_pipelines import threshold
from consent_flows.contract import CONTROL_INTENTS
from storage import ledger, records
from storage.schema import Answer, FunnelCount, SubjectTag


def test_the_threshold_script_reads_the_contracts_control_intents() -> None:
    assert threshold.control_intents_from(threshold.CONTRACT) == CONTROL_INTENTS


def test_the_threshold_script_finds_the_contract_from_any_directory(tmp_path: Path) -> None:
    cv = tmp_path / "cv"
    cv.mkdir()
    predictions = [_said("stop", "stop", "stop", 0.9), _said("boots", "inform", "skip", 0.5)]
    (cv / "intent_successes.json").write_text(json.dumps(predictions))
    done = subprocess.run(
        [sys.executable, str(Path(threshold.__file__).resolve()), str(cv)],
        cwd=tmp_path,  # not the repository: the contract is found next to the script
        capture_output=True,
        text=True,
        check=True,
    )
    expected = f"control intents ({threshold.CONTRACT}): {', '.join(sorted(CONTROL_INTENTS))}"
    assert expected in done.stdout


def _said(text: str, intent: str, predicted: str, confidence: float) -> dict[str, Any]:
    """One held-out example as `rasa test nlu --successes` writes it."""
    prediction = {"name": predicted, "confidence": confidence}
    return {"text": text, "intent": intent, "intent_prediction": prediction}


@pytest.mark.parametrize("builder", [dashboard.build, scaling.build], ids=["dashboard", "scaling"])
def test_benchmark_stores_are_read_back_by_storages_own_readers(
    builder: Callable[[Path, int], dict[str, Any]], tmp_path: Path
) -> None:
    built = builder(tmp_path, 120)
    assert built["answers"] == 120
    stores = answer_mix.settings(tmp_path).open_stores()
    try:
        keyring = stores.keyring(answer_mix.BRAND)
        with stores.brand(answer_mix.BRAND) as session:
            subjects = session.scalars(select(Answer.subject_id).distinct()).all()
            views = [
                view
                for subject in subjects
                for view in records.answers_of(session, keyring, subject_id=subject)
            ]
            funnel = session.scalar(select(func.sum(FunnelCount.count)))
            tags = session.scalar(select(func.count()).select_from(SubjectTag))
            checked, problems = ledger.verify(session)
    finally:
        stores.dispose()
    assert len(views) == 120
    assert {v.step_id for v in views} >= {"activity", "priorities", "frustration"}
    for view in views:
        if view.step_id == "activity":
            assert view.verbatim == view.value
            assert view.value in answer_mix.ACTIVITIES
        if view.step_id == "priorities":
            assert view.verbatim == ", ".join(view.value)
    # Every answer counted as reached and answered; reached is 8% above answered, per day.
    assert funnel is not None
    assert funnel >= 2 * 120
    runners = {v.subject_id for v in views if v.step_id == "activity" and v.value == "running"}
    assert tags == len(runners)
    assert checked == built["consent_events"]
    assert not problems
