"""Checks before anything starts: the database and Redis answer, or a clear error naming them.

Messages name the URL without its password (`storage.backends.safe_url`).
"""

from __future__ import annotations

from bot.settings import Settings
from storage.backends import StoreUnavailable, safe_url


class ServiceUnavailable(RuntimeError):
    """A service Candor needs does not answer; the message says which and what to check."""


def check_database(settings: Settings) -> None:
    """Open the stores once (creating and migrating the shared ones), then let them go."""
    try:
        stores = settings.open_stores()
    except StoreUnavailable as exc:
        raise ServiceUnavailable(str(exc)) from None
    stores.dispose()


def check_redis(settings: Settings) -> None:
    if settings.redis_url is None:
        return
    import redis

    url = settings.redis_url.get_secret_value()
    client = redis.Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as exc:
        raise ServiceUnavailable(
            f"cannot reach Redis at {safe_url(url)} ({type(exc).__name__}); check "
            "CANDOR_REDIS_URL and that Redis is running"
        ) from None
    finally:
        client.close()


def check(settings: Settings) -> None:
    check_database(settings)
    check_redis(settings)
