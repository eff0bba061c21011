"""Security headers on every response, and the API docs page under a strict policy.

One ASGI middleware, so no route can forget them; a route that sets its own policy (the
dashboard, the docs page) keeps it. Pages get a Content-Security-Policy without
`'unsafe-inline'` (their scripts and styles are files on this origin) and may not be framed;
JSON and downloads get a policy that runs nothing; everything gets `nosniff`. Scripts and style
sheets get no frame or policy headers, because they are not documents: the widget's script and
style sheet stay loadable from any brand's site.
"""

from __future__ import annotations

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# The chat page and the dashboard: their own scripts, styles and connections only.
PAGE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data: blob:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
# The headers of the dashboard's page (and of its "unknown brand" page): it runs only its own
# scripts and talks only to this origin; data is never HTML.
PAGE_HEADERS = {
    "Content-Security-Policy": PAGE_CSP,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}
# JSON, CSV and other downloads: nothing in them may run, load or be framed.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"
_SUBRESOURCES = ("text/javascript", "application/javascript", "text/css")
# Swagger UI's files come from its CDN, as FastAPI serves them.
_DOCS_CDN = "https://cdn.jsdelivr.net"
_DOCS_ICON = "https://fastapi.tiangolo.com"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.S)


class SecurityHeaders:
    """ASGI middleware: adds the headers a response lacks, by its content type."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                add_headers(MutableHeaders(scope=message))
            await send(message)

        await self.app(scope, receive, with_headers)


def add_headers(headers: MutableHeaders) -> None:
    """The headers for one response; those already set by its route win."""
    headers.setdefault("X-Content-Type-Options", "nosniff")
    kind = headers.get("content-type", "").split(";")[0].strip().lower()
    if kind in _SUBRESOURCES:
        return
    headers.setdefault("Content-Security-Policy", PAGE_CSP if kind == "text/html" else DATA_CSP)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")


def script_hashes(page: str) -> list[str]:
    """CSP sources for a page's inline scripts, by hash, so only these exact scripts run."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in _INLINE_SCRIPT.findall(page)
    ]


def mount_docs(app: FastAPI, title: str) -> None:
    """`/docs` (Swagger UI) with a policy that allows its CDN and its one inline script.

    FastAPI's own page needs `'unsafe-inline'`; this is the same page, with the inline script
    allowed by its hash instead. (ReDoc is not served: it injects style elements at run time.)
    """
    page = get_swagger_ui_html(openapi_url=app.openapi_url or "", title=f"{title} - API").body
    html = bytes(page).decode()
    policy = (
        f"default-src 'none'; script-src {_DOCS_CDN} {' '.join(script_hashes(html))}; "
        f"style-src {_DOCS_CDN}; img-src 'self' data: {_DOCS_ICON}; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )

    @app.get("/docs", response_class=HTMLResponse, include_in_schema=False)
    async def docs() -> HTMLResponse:
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})
