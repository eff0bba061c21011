"""Start the Rasa 3.6 engine with one fix: a compiled validator for action server responses.

This file runs inside `.venv-rasa` (Python 3.10) as `python bot/rasa_boot.py run ...`, with the
same arguments as the `rasa` command. It imports nothing from Candor.

Why: Rasa 3.6 calls `jsonschema.validate(result, schema)` on every action response
(`RemoteAction._validate_action_result`). `validate` re-checks the schema itself and builds a new
validator on every call; measured on the prototype, that was 75% of the engine's CPU per turn.
Here the same schema is checked once and compiled into one validator, which then validates each
response. Malformed responses are still refused with the same `ValidationError` (see
tests/unit/test_rasa_boot.py).
"""

import os
import sys
from typing import Any, Callable, Dict


def compiled_validator(schema: Dict[str, Any]) -> Callable[[Dict[str, Any]], None]:
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    cls.check_schema(schema)
    return cls(schema).validate


def install() -> None:
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.constants import DOCS_BASE_URL

    validate = compiled_validator(RemoteAction.action_response_format_spec())

    def _validate_action_result(self: RemoteAction, result: Dict[str, Any]) -> bool:
        from jsonschema import ValidationError

        try:
            validate(result)
            return True
        except ValidationError as e:
            e.message += (
                ". Failed to validate Action server response from API, make sure your "
                f"response from the Action endpoint is valid. See {DOCS_BASE_URL}/custom-actions"
            )
            raise e

    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    RemoteAction._candor_compiled_validator = True  # type: ignore[attr-defined]


def main() -> None:
    # CANDOR_STOCK_VALIDATOR=1 keeps Rasa's own validation, only to measure the difference.
    if os.environ.get("CANDOR_STOCK_VALIDATOR") != "1":
        install()
    from rasa.__main__ import main as rasa_main

    sys.argv[0] = "rasa"
    rasa_main()


if __name__ == "__main__":
    main()
