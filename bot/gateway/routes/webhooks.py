"""Outbound webhooks, for a brand (its key): endpoints, their deliveries, dead letters, replay.

An endpoint's `name` is the recipient id a flow's purposes list (`recipients: [crm]`): an
endpoint that no purpose lists is sent no data, only the notices of rights for people whose
data it received (docs/webhooks.md). Its signing secret is in the answer to its creation and to
a rotation, and nowhere else ever after. Delivery logs never show a body (it may hold answers),
and name subjects by their pseudonym only. The routes are plain `def`: they read and write the
brand's store, which FastAPI runs in its thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from bot.gateway.auth import AuthorisedBrand
from bot.gateway.errors import responses
from bot.gateway.state import StoresDep
from storage import webhook_queue, webhooks

router = APIRouter(prefix="/api/v1/brands", tags=["webhooks"], responses=responses(403, 422, 503))

Name = Annotated[str, Path(pattern=r"^[a-z][a-z0-9_]{0,62}$", description="The endpoint's name.")]
DeliveryId = Annotated[str, Path(max_length=40, description="A delivery's `webhook-id`.")]
Event = Literal[
    "response.completed",
    "answer.recorded",
    "consent.given",
    "consent.refused",
    "consent.withdrawn",
    "subject.erased",
    "subject.objected",
]
State = Literal["queued", "sending", "delivered", "dead", "cancelled"]
_UNKNOWN = responses(404, notes={404: "`unknown_webhook`: this brand has no such endpoint"})
_REFUSED = responses(
    422,
    notes={
        422: "`webhook_refused`: not https (http only for 127.0.0.1/localhost), an unknown "
        "event, or a name in use; `hint` says what to do"
    },
)


class NewEndpoint(BaseModel):
    name: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,62}$",
        description="The recipient id the flow's purposes list (`recipients: [crm]`)",
        examples=["crm"],
    )
    url: str = Field(max_length=500, examples=["https://crm.example.com/candor"])
    events: list[Event] = Field(min_length=1, description="The events it subscribes to")


class EndpointOut(BaseModel):
    name: str
    url: str
    events: list[str]
    active: bool
    created_at: str
    rotated_at: str | None
    removed_at: str | None


class Created(EndpointOut):
    secret: str = Field(description="The signing secret, shown this once: keep it now")


class Secret(BaseModel):
    name: str
    secret: str = Field(description="The new signing secret, shown this once")


class DeliveryOut(BaseModel):
    id: str = Field(description="The `webhook-id` header: the same on every attempt and replay")
    endpoint: str
    event: str
    subject: str | None = Field(description="The subject's pseudonym, as in the payload")
    purpose: str | None
    state: str
    attempts: int
    created_at: str
    due_at: str | None
    delivered_at: str | None
    last_status: int | None
    last_error: str | None


class Deliveries(BaseModel):
    deliveries: list[DeliveryOut] = Field(description="Newest first")


@router.post("/{brand}/webhooks", status_code=201, response_model=Created, responses=_REFUSED)
def create_endpoint(brand: AuthorisedBrand, body: NewEndpoint, stores: StoresDep) -> Any:
    """Register an endpoint. The answer holds its signing secret, shown this once."""
    with stores.brand(brand) as session:
        row, secret = webhooks.add_endpoint(
            session, stores.keyring(brand), name=body.name, url=body.url, events=body.events
        )
        session.commit()
        return {**webhooks.endpoint_view(row), "secret": secret}


@router.get("/{brand}/webhooks", response_model=list[EndpointOut])
def list_endpoints(
    brand: AuthorisedBrand,
    stores: StoresDep,
    removed: Annotated[bool, Query(description="Include removed endpoints")] = False,
) -> Any:
    """Every endpoint (never a secret)."""
    with stores.brand(brand) as session:
        return [webhooks.endpoint_view(r) for r in webhooks.endpoints(session, removed=removed)]


@router.delete("/{brand}/webhooks/{name}", response_model=EndpointOut, responses=_UNKNOWN)
def remove_endpoint(brand: AuthorisedBrand, name: Name, stores: StoresDep) -> Any:
    """Stop sending data to it for good: data events still waiting are cancelled. Notices of
    erasure and withdrawal for people whose data it received are still sent (Art. 19)."""
    with stores.brand(brand) as session:
        row = webhooks.remove(session, name)
        session.commit()
        return webhooks.endpoint_view(row)


@router.post("/{brand}/webhooks/{name}/disable", response_model=EndpointOut, responses=_UNKNOWN)
def disable_endpoint(brand: AuthorisedBrand, name: Name, stores: StoresDep) -> Any:
    """Pause it: its deliveries wait (nothing is lost) until it is enabled again."""
    return _set_active(stores, brand, name, False)


@router.post("/{brand}/webhooks/{name}/enable", response_model=EndpointOut, responses=_UNKNOWN)
def enable_endpoint(brand: AuthorisedBrand, name: Name, stores: StoresDep) -> Any:
    """Resume it: what waited goes out."""
    return _set_active(stores, brand, name, True)


def _set_active(stores: Any, brand: str, name: str, active: bool) -> dict[str, Any]:
    with stores.brand(brand) as session:
        row = webhooks.set_active(session, name, active)
        session.commit()
        return webhooks.endpoint_view(row)


@router.post("/{brand}/webhooks/{name}/rotate", response_model=Secret, responses=_UNKNOWN)
def rotate_secret(brand: AuthorisedBrand, name: Name, stores: StoresDep) -> Any:
    """A new signing secret, in force at once; shown this once."""
    with stores.brand(brand) as session:
        secret = webhooks.rotate_secret(session, stores.keyring(brand), name)
        session.commit()
    return {"name": name, "secret": secret}


@router.get("/{brand}/webhooks/{name}/deliveries", response_model=Deliveries, responses=_UNKNOWN)
def endpoint_deliveries(
    brand: AuthorisedBrand,
    name: Name,
    stores: StoresDep,
    state: Annotated[State | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """One endpoint's deliveries: state, attempts, last status and error (never a body)."""
    with stores.brand(brand) as session:
        webhooks.endpoint(session, name)
        return {"deliveries": webhook_queue.log(session, name=name, state=state, limit=limit)}


@router.get("/{brand}/webhook-dead-letters", response_model=Deliveries)
def dead_letters(
    brand: AuthorisedBrand,
    stores: StoresDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Any:
    """Deliveries that failed every attempt; `POST .../replay` sends one again."""
    with stores.brand(brand) as session:
        return {"deliveries": webhook_queue.log(session, state="dead", limit=limit)}


@router.post(
    "/{brand}/webhook-deliveries/{delivery_id}/replay",
    response_model=DeliveryOut,
    responses={
        **responses(404, notes={404: "`unknown_delivery`: no delivery with this id"}),
        **responses(
            409,
            notes={
                409: "`not_replayable`: its data is no longer kept (a data event once "
                "delivered, or withdrawn or erased since)"
            },
        ),
    },
)
def replay_delivery(brand: AuthorisedBrand, delivery_id: DeliveryId, stores: StoresDep) -> Any:
    """Queue a delivery again under its own id (receivers deduplicate by it)."""
    with stores.brand(brand) as session:
        row = webhook_queue.replay(session, delivery_id)
        session.commit()
        named = session.get(webhooks.WebhookEndpoint, row.endpoint_id)
        return webhook_queue.describe(row, named.name if named else "")
