"""How much the flow property tests explore, and what an older proof would have let through.

Generates flows with the same strategy as tests/property (loops included), keeps those the
consent proof accepts, and drives each with random customers who answer, skip, go back, withdraw,
give unclear replies, resend stale messages, pause, restart and stop
(tests/property/test_customer_moves.py). Prints how many flows, runs and turns that was, and that
the run-time guard never fired. With `--against REV`, also counts the flows that the validator at
git revision REV accepted and the current one refuses, on which random customers then reach the
guard or break an invariant: the faults the new proof closes.

    .venv/bin/python benchmarks/flow_proof.py --flows 3000 --against 7114823
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consent_flows.validator import validate  # noqa: E402
from tests.property import test_customer_moves as moves  # noqa: E402
from tests.property.test_flow_properties import flows  # noqa: E402


def _old_validator(revision: str) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{revision}:consent_flows/validator.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_validator.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_validator", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_validator"] = module  # dataclasses look their module up while defining
    spec.loader.exec_module(module)
    return module


def _accepted(issues: list) -> bool:
    return not [i for i in issues if not i.message.endswith("can never be reached")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=3000)
    parser.add_argument("--customers", type=int, default=20)
    parser.add_argument("--against", help="a git revision whose validator to compare with")
    args = parser.parse_args()
    old = _old_validator(args.against) if args.against else None
    stats = {"flows": 0, "accepted": 0, "with_loops": 0, "runs": 0, "turns": 0, "guard": 0}
    if old:
        stats["old_proof_accepted_unsafe"] = 0

    @settings(max_examples=args.flows, deadline=None, suppress_health_check=list(HealthCheck))
    @given(flows(allow_loops=True), st.integers(0, 2**32 - 1))
    def explore(flow, seed: int) -> None:
        stats["flows"] += 1
        rng = random.Random(seed)
        if _accepted(validate(flow)):
            stats["accepted"] += 1
            stats["with_loops"] += "again" in flow.labels()
            for _ in range(args.customers):
                stats["runs"] += 1
                try:
                    stats["turns"] += moves.drive(flow, rng)
                except AssertionError:
                    stats["guard"] += 1
        elif old is not None and _accepted(old.validate(flow)):
            try:
                for _ in range(args.customers):
                    moves.drive(flow, rng)
            except AssertionError:
                stats["old_proof_accepted_unsafe"] += 1

    explore()
    print(json.dumps(stats, indent=2))


if __name__ == "__main__":
    main()
