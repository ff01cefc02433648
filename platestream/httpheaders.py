"""Security headers on every HTTP answer of the API and ingest servers (a pure ASGI middleware)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Only directives that cannot break the console or the OpenAPI page (their scripts, styles and
# presigned image URLs on the object store's origin are untouched): no framing (clickjacking), no
# plugins, no <base> hijack, no MIME sniffing, no referrer carrying plate searches elsewhere.
HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'; object-src 'none'; base-uri 'self'"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
)
# API answers carry personal data (plates): no shared cache may keep them.
NO_STORE = (b"cache-control", b"no-store")


class SecurityHeaders:
    """Adds ``HEADERS`` (and ``Cache-Control: no-store`` under ``no_store_prefix``) unless the
    route set them itself."""

    def __init__(self, app: ASGIApp, *, no_store_prefix: str | None = None) -> None:
        self.app = app
        self.no_store_prefix = no_store_prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        extra = list(HEADERS)
        if self.no_store_prefix is not None and str(scope.get("path", "")).startswith(
            self.no_store_prefix
        ):
            extra.append(NO_STORE)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers") or [])
                present = {k.lower() for k, _ in headers}
                headers.extend((k, v) for k, v in extra if k not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
