"""The rasa-sdk action endpoint the engine calls, served by the gateway.

It is protected by a token derived from the installation key (sent by Rasa as `?token=`), so
nobody but the engine can make the actions write to a brand's store.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

log = logging.getLogger("candor.actions")
router = APIRouter(include_in_schema=False)


@router.post("/internal/actions")
async def run_action(request: Request) -> JSONResponse:
    token = request.query_params.get("token", "")
    if not hmac.compare_digest(token.encode(), request.app.state.action_token.encode()):
        return JSONResponse({"error": "forbidden", "detail": "wrong action token"}, 403)
    try:
        call: dict[str, Any] = await request.json()
    except ValueError:
        return JSONResponse({"error": "invalid_request", "detail": "body is not JSON"}, 400)
    executor: ActionExecutor = request.app.state.executor
    try:
        result = await executor.run(call)
    except ActionExecutionRejection as exc:
        return JSONResponse({"action_name": exc.action_name, "error": exc.message}, 400)
    except ActionNotFoundException as exc:
        return JSONResponse({"action_name": exc.action_name, "error": exc.message}, 404)
    except Exception as exc:
        log.error(
            "action %s failed: %s",
            call.get("next_action"),
            type(exc).__name__,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        return JSONResponse(
            {"action_name": call.get("next_action"), "error": "the action failed"}, 500
        )
    return JSONResponse(result.model_dump() if result else {"events": [], "responses": []})
