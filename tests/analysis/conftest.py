from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace

import pytest

from nlu.analysis.config import configure, current
from nlu.analysis.pipeline import Pipeline, get_pipeline

# Pipelines are cached per choice, so switching the process's choice switches the pipeline
# without reloading the model for every test.


@contextmanager
def choosing(choice: str) -> Iterator[Pipeline]:
    """The process's pipeline while a test runs, as `CANDOR_SPACY_MODEL=<choice>` would make it."""
    previous = configure(replace(current(), spacy_model=choice))
    try:
        yield get_pipeline()
    finally:
        configure(previous)


@pytest.fixture
def blank() -> Iterator[Pipeline]:
    """The blank English pipeline, chosen for the process (what callers without one get)."""
    with choosing("blank") as loaded:
        yield loaded


@pytest.fixture
def full() -> Iterator[Pipeline]:
    """The en_core_web_sm pipeline; skipped on a laptop without it, a failure under CI."""
    with choosing("auto") as loaded:
        if not loaded.parser:
            message = "en_core_web_sm is not installed (make setup installs it)"
            if os.environ.get("CI"):
                pytest.fail(message)
            pytest.skip(message)
        yield loaded


@pytest.fixture(params=["full", "blank"])
def pipeline(request: pytest.FixtureRequest) -> Pipeline:
    """Runs a test on both pipelines: the code must work with and without the model."""
    return request.getfixturevalue(request.param)
