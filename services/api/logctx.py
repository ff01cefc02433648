"""Request ids in log lines: a context variable set per request (`RequestContext`, which also
counts and times requests) and a filter that copies it to records."""

from __future__ import annotations

import contextvars
import logging
import time
import uuid
from typing import Any

from platestream.httpheaders import ASGIApp, Message, Receive, Scope, Send

# the request lines keep the logger name they had when the app built them (log filters use it)
logger = logging.getLogger("services.api.main")

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        rid = request_id_var.get()
        if rid is not None:
            record.request_id = rid
        return True


def install_request_id_filter() -> None:
    for handler in logging.getLogger().handlers:
        handler.addFilter(RequestIdFilter())


class RequestContext:
    """Per request: a request id (the caller's ``X-Request-ID``, else a new one) in the log lines,
    in ``request.state.request_id`` and on the answer; the request counted and timed by its
    route template (never the plate a path may hold). A pure ASGI middleware: Starlette's
    ``@app.middleware("http")`` wraps every request in a task group and memory streams."""

    def __init__(self, app: ASGIApp, *, metrics: Any) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = next((v for k, v in scope.get("headers") or [] if k == b"x-request-id"), b"")
        request_id = rid.decode("latin-1")[:128] if rid else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        token = request_id_var.set(request_id)
        start = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers") or [])
                headers.append((b"x-request-id", request_id.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - start
            method = str(scope.get("method", ""))
            self.metrics.requests.labels(method, template, str(status)).inc()
            self.metrics.latency.labels(method, template).observe(elapsed)
            if status == 429:
                self.metrics.rate_limited.inc()
            logger.info("%s %s -> %s in %.1f ms", method, template, status, elapsed * 1000)
            request_id_var.reset(token)
