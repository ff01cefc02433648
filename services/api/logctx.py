"""Request ids in log lines: a context variable set per request and a filter that copies it to records."""

from __future__ import annotations

import contextvars
import logging

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
