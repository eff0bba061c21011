"""The rasa-sdk action endpoint the engine calls, served by the gateway.

It is protected by a token derived from the installation key (sent by Rasa as `?token=`), so
nobody but the engine can make the actions write to a brand's store.
"""

from __future__ import annotations

import asyncio
import hmac
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from rasa_sdk import Action
from rasa_sdk.executor import ActionExecutor
from rasa_sdk.interfaces import ActionExecutionRejection, ActionNotFoundException

from bot.gateway.errors import (
    ActionCallNotJson,
    ActionFailed,
    ActionNotFound,
    ActionRejected,
    WrongActionToken,
)
from bot.gateway.state import GatewayDep

log = logging.getLogger("candor.actions")
router = APIRouter(include_in_schema=False)


def executor_for(actions: Iterable[Action]) -> ActionExecutor:
    """An executor whose plain (`def run`) actions run in worker threads.

    rasa-sdk calls a plain `run` on the event loop, and ours commit to the brand's store, unwrap
    keys and check the ledger: on the loop, every other conversation would wait for that one.
    """
    executor = ActionExecutor()
    for action in actions:
        run = action.run
        executor.register_function(
            action.name(), run if inspect.iscoroutinefunction(run) else _in_a_thread(run)
        )
    return executor


def _in_a_thread(run: Callable[..., Any]) -> Callable[..., Any]:
    async def in_a_thread(dispatcher: Any, tracker: Any, domain: Any) -> Any:
        return await asyncio.to_thread(run, dispatcher, tracker, domain)

    return in_a_thread


@router.post("/internal/actions")
async def run_action(request: Request, gateway: GatewayDep) -> JSONResponse:
    token = request.query_params.get("token", "")
    if not hmac.compare_digest(token.encode(), gateway.action_token.encode()):
        raise WrongActionToken()
    try:
        call: dict[str, Any] = await request.json()
    except ValueError:
        raise ActionCallNotJson() from None
    try:
        result = await gateway.executor.run(call)
    except ActionExecutionRejection as exc:
        raise ActionRejected(exc.action_name, exc.message) from None
    except ActionNotFoundException as exc:
        raise ActionNotFound(exc.action_name, exc.message) from None
    except Exception as exc:
        log.error(
            "action %s failed: %s",
            call.get("next_action"),
            type(exc).__name__,
            exc_info=log.isEnabledFor(logging.DEBUG),
        )
        raise ActionFailed(call.get("next_action")) from None
    return JSONResponse(result.model_dump() if result else {"events": [], "responses": []})
