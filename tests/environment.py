"""The suite's environment: no `CANDOR_*` variable from the developer's shell reaches a test.

A variable left in a shell (`export CANDOR_DATA_DIR=...` from a demo, a production
`CANDOR_MASTER_KEYS`) would otherwise change every `Settings()` a test builds and every process
a test starts, so a run would pass or fail depending on the machine. The suite's own knobs are
the exception: they size long runs and name test servers, and Candor never reads them.
"""

from __future__ import annotations

from collections.abc import MutableMapping

PREFIX = "CANDOR_"
# Read by the tests only (`make fuzz`, `make crash`, `make fuzz-flows`, `.ci/run`).
SUITE_KNOBS = frozenset(
    {
        "CANDOR_TEST_POSTGRES_URL",
        "CANDOR_TEST_REDIS_URL",
        "CANDOR_FUZZ_EXAMPLES",
        "CANDOR_CRASH_TRIALS",
        "CANDOR_PROPERTY_EXAMPLES",
        "CANDOR_PROPERTY_CUSTOMERS",
    }
)


def clean(environ: MutableMapping[str, str]) -> list[str]:
    """Remove every `CANDOR_*` variable but the suite's knobs; returns the names removed."""
    stray = sorted(k for k in environ if k.startswith(PREFIX) and k not in SUITE_KNOBS)
    for name in stray:
        del environ[name]
    return stray
