"""Brand admin routes under `/api/v1/brands/{brand}`, authorised by the brand's API key."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel

from bot.brands import BrandMismatch, publish_flow_source
from bot.gateway.auth import AuthorisedBrand
from bot.gateway.errors import FlowRefused, StaleFlowVersion
from bot.gateway.state import StoresDep
from consent_flows.loader import FlowInvalid
from storage.registry import StaleVersion

router = APIRouter(prefix="/api/v1/brands", tags=["brand admin"])

# Parsing and proving a flow is pure-Python CPU work on a document any brand can send. It runs
# here, off the event loop, so other brands' chats keep answering; its own small pool (not the
# default one, which after-turn database work uses) makes a burst of uploads queue behind each
# other instead of taking every worker thread. The loader's budgets bound each job.
_FLOW_WORK = ThreadPoolExecutor(max_workers=2, thread_name_prefix="flow-publish")


class Published(BaseModel):
    brand: str
    flow: str
    version: int
    published_at: datetime


_FLOW_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/yaml": {"schema": {"type": "string"}},
            "text/plain": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/{brand}/flows",
    status_code=201,
    response_model=Published,
    openapi_extra=_FLOW_BODY,
    responses={
        403: {"description": "No API key, or a wrong, expired or other brand's key"},
        409: {"description": "Version not newer than the live one"},
        422: {"description": "The flow has errors; the live version stays"},
    },
)
async def publish_flow(brand: AuthorisedBrand, request: Request, stores: StoresDep) -> Published:
    """Validate a flow (YAML body) and publish it as the brand's new live version.

    Conversations under way finish on the version they started with; new conversations get this
    one at once, with no retraining and no restart. A refused flow changes nothing.
    """
    body = await request.body()  # bytes: invalid UTF-8 is the loader's 422, naming the byte
    loop = asyncio.get_running_loop()
    try:
        flow, row = await loop.run_in_executor(
            _FLOW_WORK,
            lambda: publish_flow_source(
                stores, brand=brand, source=body, origin=f"{brand}/flows (upload)"
            ),
        )
    except FlowInvalid as exc:
        raise FlowRefused([e.as_dict() for e in exc.errors]) from None
    except BrandMismatch as exc:
        raise FlowRefused([], str(exc)) from None
    except StaleVersion as exc:
        raise StaleFlowVersion(str(exc)) from None
    return Published(brand=brand, flow=flow.id, version=row.version, published_at=row.published_at)
