"""What reading a typed answer costs in the actions (the gateway's process), per question type.

    .venv/bin/python benchmarks/typed_answers.py

Each reply is read 1,000 times (5 rounds of 200) after one warm-up read (`dateparser` loads
its language data on its first call: that cost is reported apart, as "first read"). Figures
are CPU microseconds per read, the median of the 5 rounds. Writes
benchmarks/results/typed_answers.json too.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from consent_flows.answers import parse_answer  # noqa: E402
from consent_flows.contract import UserTurn  # noqa: E402
from consent_flows.model import AskSpec  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "typed_answers.json"
CASES: list[tuple[str, dict[str, object], str, str]] = [
    ("nps", {"type": "nps"}, "8/10", "en"),
    ("scale 1-7", {"type": "scale", "min": 1, "max": 7}, "six", "en"),
    ("number", {"type": "number", "min": 0, "max": 100}, "about 12 a month", "en"),
    ("date (words)", {"type": "date"}, "next Friday", "en"),
    ("date (French)", {"type": "date"}, "le 12 mars", "fr"),
    ("date (German)", {"type": "date"}, "am 12. März", "de"),
    ("email", {"type": "email"}, "it's jo.smith@example.com", "en"),
    ("phone", {"type": "phone"}, "+44 20 7946 0018", "en"),
    ("ranking", {"type": "ranking", "choices": ["a", "b", "c"]}, "b, c, a", "en"),
]
ROUNDS, READS = 5, 200


def main() -> None:
    out = []
    print(f"{'type':<16} {'first read ms':>14} {'µs per read':>12}")
    for name, fields, text, language in CASES:
        ask = AskSpec.model_validate({"id": "q", "purpose": "p", "text": "?", **fields})
        turn = UserTurn(text=text, at=1_796_040_000.0)
        start = time.process_time()
        first = parse_answer(ask, turn, [], language=language)
        first_ms = (time.process_time() - start) * 1000
        assert first.value is not None, (name, first.problem)
        rounds = []
        for _ in range(ROUNDS):
            start = time.process_time()
            for _ in range(READS):
                parse_answer(ask, turn, [], language=language)
            rounds.append((time.process_time() - start) / READS * 1e6)
        per = statistics.median(rounds)
        out.append({"type": name, "first_read_ms": round(first_ms, 1), "us_per_read": round(per)})
        print(f"{name:<16} {first_ms:>14.1f} {per:>12.0f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
