"""Brand admin authorisation: `Authorization: Bearer <brand api key>` on brand routes.

A key opens exactly one brand. A missing or malformed header is 403 (`not_authenticated`, with
how to send the key); a key that is unknown, expired, revoked or belongs to another brand is 403
(`forbidden`), and so is any key for a brand that does not exist: the answer never says whether
a brand exists. One brand's key never reads another's store, and a caller cannot tell another
brand's key from a wrong one.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from bot.gateway.errors import Forbidden, NotAuthenticated
from bot.gateway.state import StoresDep
from storage import registry


def require_brand_key(brand: str, request: Request, stores: StoresDep) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise NotAuthenticated()
    # Only the key is looked up, never the brand: a wrong key gets the same 403 whether or not
    # the brand exists, so probing with bogus keys cannot list brands.
    with stores.registry() as session:
        owner = registry.brand_for_key(session, key=key.strip())
    if owner is None or owner != brand:
        raise Forbidden()
    return brand


AuthorisedBrand = Annotated[str, Depends(require_brand_key)]
