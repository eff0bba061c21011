"""Python's cyclic garbage collector, paused while a report is computed (`paused`)."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_guard = threading.Lock()
_paused = 0  # reports running with the cyclic collector paused
_was_enabled = False


@contextmanager
def paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a report (or its segments) is computed.

    A report allocates a few hundred thousand small objects while the process holds millions
    (the documents `subject_facts` keeps decoded), and every full collection walks all of them:
    at a million answers that was half of a recompute's time (docs/benchmarks.md). Reference
    counting still frees what a report builds; the few cycles wait, seconds at most, for the
    collector to resume when the last report running ends (a count, so that overlapping
    reports of two brands never leave it paused)."""
    global _paused, _was_enabled
    with _guard:
        if _paused == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _paused += 1
    try:
        yield
    finally:
        with _guard:
            _paused -= 1
            if _paused == 0 and _was_enabled:
                gc.enable()
