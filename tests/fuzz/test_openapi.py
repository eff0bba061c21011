"""Schemathesis over the gateway's own OpenAPI document: every operation, with and without a key.

Each response must be documented: no 5xx, and its status code, content type and body as the
document says. A failure prints the request that caused it (replay it with `curl`).
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.fuzz.conftest import BRAND, FUZZ_EXAMPLES, Target, openapi_document, tally

pytestmark = pytest.mark.fuzz

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,  # no example database under the source tree
)


# The document is read at import, from an app built only for it, since schemathesis needs it to
# collect the tests (its fixture-based loader does not run on pytest 9). Each request then goes
# to the session's gateway (`app=`), which serves the same document.
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@FUZZ
def test_every_operation_without_a_key(case: Any, target: Target) -> None:
    """What a stranger can send: any brand, any parameters, no credentials."""
    tally(case.call_and_validate(app=target.app, checks=CHECKS).status_code)


@schema.parametrize()
@FUZZ
def test_every_operation_with_the_brands_key(case: Any, target: Target) -> None:
    """What a brand can send with its own key, on its own brand."""
    if "brand" in (case.path_parameters or {}):
        case.path_parameters["brand"] = BRAND
    headers = {"Authorization": f"Bearer {target.key}"}
    tally(case.call_and_validate(app=target.app, headers=headers, checks=CHECKS).status_code)
