"""Checks before anything starts: private files, then the database and Redis answer, or a
clear error naming them.

Messages name the URL without its password (`storage.backends.safe_url`).
"""

from __future__ import annotations

import logging
import os

from bot.settings import Settings
from storage.backends import PRIVATE_UMASK, StoreUnavailable, private_dir, safe_url, tighten

log = logging.getLogger("candor.preflight")


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


def lock_down(settings: Settings) -> None:
    """Owner-only files from now on (umask), and for what an older install left readable.

    The data directory holds the stores, the wrapped keys and the engine's tracker; the run
    directory holds the engine's endpoints and the logs. Installs made before Candor set its
    umask have them 0644 in 0755 directories: they are tightened here, with one line saying
    how many (never which subject or what text).
    """
    os.umask(PRIVATE_UMASK)
    roots = (private_dir(settings.data_dir), private_dir(settings.run_dir))
    files, dirs, failed = tighten(roots)
    if files or dirs:
        log.warning(
            "tightened %d files and %d directories under %s and %s to owner-only "
            "(files 0600, directories 0700): other accounts on this machine could read them",
            files,
            dirs,
            *roots,
        )
    if failed:
        log.warning(
            "could not tighten %d paths under %s and %s (owned by another account?); "
            "check them with `ls -lR`",
            failed,
            *roots,
        )


def check(settings: Settings) -> None:
    lock_down(settings)
    check_database(settings)
    check_redis(settings)
