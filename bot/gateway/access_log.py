"""uvicorn's access log, without query strings.

Query strings carry what customers and brands typed or were given: a verbatim search
(`/questions/{id}/verbatims?q=…`), a self-service link's token, a filter. uvicorn writes the
full path at INFO, so an operator who turns the log level up would store them. The filter keeps
the method, the path and the status (what operations need) and drops the rest of the target.
"""

from __future__ import annotations

import logging

ACCESS_LOGGER = "uvicorn.access"


class DropQueryStrings(logging.Filter):
    """Rewrites uvicorn's access record `(client, method, path?query, http, status)`."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path, sep, _ = args[2].partition("?")
            if sep:
                record.args = (*args[:2], f"{path}?…", *args[3:])
        return True


def install() -> None:
    """Idempotent: one filter on the access logger, however many apps a process builds."""
    logger = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, DropQueryStrings) for f in logger.filters):
        logger.addFilter(DropQueryStrings())
