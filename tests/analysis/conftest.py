from __future__ import annotations

import os

import pytest

from nlu.analysis.pipeline import MODEL_ENV, Pipeline, get_pipeline

# Pipelines are cached per CANDOR_SPACY_MODEL value, so switching the variable switches the
# pipeline without reloading the model for every test.


@pytest.fixture
def blank(monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """The blank English pipeline, forced by the environment variable."""
    monkeypatch.setenv(MODEL_ENV, "blank")
    return get_pipeline()


@pytest.fixture
def full(monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """The en_core_web_sm pipeline; skipped on a laptop without it, a failure under CI."""
    monkeypatch.delenv(MODEL_ENV, raising=False)
    loaded = get_pipeline()
    if not loaded.parser:
        message = "en_core_web_sm is not installed (make setup installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return loaded


@pytest.fixture(params=["full", "blank"])
def pipeline(request: pytest.FixtureRequest) -> Pipeline:
    """Runs a test on both pipelines: the code must work with and without the model."""
    return request.getfixturevalue(request.param)
