"""One log setup for every stage: plain text for people, or one JSON object per line
(``PLATESTREAM_LOG_JSON=true``) with the stage and, where known, the event, camera and trace ids.

Context reaches the lines in two ways: ``log_context(camera_id=..., event_id=...)`` around a
block (a context variable, so threads and asyncio tasks keep their own), or
``logger.info(..., extra={"camera_id": ...})`` on one call.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

from pythonjsonlogger.json import JsonFormatter

CONTEXT_FIELDS = ("event_id", "camera_id", "trace_id", "read_id", "frame_id")
NOISY = ("aiokafka", "faust", "mode", "httpx", "httpx2", "urllib3")

_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "platestream_log_context", default=None
)
_stage: str | None = None


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add ``fields`` (e.g. camera_id, event_id) to every line logged inside the block."""
    merged = {**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the stage and the current log context onto each record (explicit extras win)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _stage is not None and not hasattr(record, "stage"):
            record.stage = _stage
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class Formatter(JsonFormatter):
    """``{"ts": "2026-12-01T22:00:00.123Z", "level": ..., "logger": ..., "msg": ..., "stage": ...}``
    plus any context or extra fields; times in UTC."""

    def __init__(self) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={
                "asctime": "ts",
                "levelname": "level",
                "name": "logger",
                "message": "msg",
            },
            json_ensure_ascii=False,
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + (
            f".{int(record.msecs):03d}Z"
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data.pop("color_message", None)  # uvicorn's ANSI-coloured copy of msg
        if record.exc_info and "exc_info" in log_data:
            log_data["exc"] = log_data.pop("exc_info")


def _text_formatter() -> logging.Formatter:
    return logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")


def configure(level: str = "INFO", *, json_logs: bool, stage: str | None = None) -> None:
    """Replace the root handlers with one stderr handler in the chosen format."""
    global _stage
    if stage is not None:
        _stage = stage
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(Formatter() if json_logs else _text_formatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # An exception nobody caught, in the main thread or another one, is a log line like any
    # other (Python prints it as a bare traceback otherwise, which a JSON log reader cannot take)
    sys.excepthook = _log_uncaught
    threading.excepthook = _log_uncaught_in_thread


_uncaught = logging.getLogger("platestream.uncaught")


def _log_uncaught(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    _uncaught.critical("uncaught exception", exc_info=(kind, exc, tb))


def _log_uncaught_in_thread(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    _uncaught.error(
        "uncaught exception in thread %s",
        name,
        exc_info=(args.exc_type, args.exc_value or args.exc_type(), args.exc_traceback),
    )


def current_stage() -> str | None:
    return _stage


def root_handlers() -> list[logging.Handler]:
    """The handlers configure() installed, for frameworks that rebuild logging (faust's Worker)."""
    return list(logging.getLogger().handlers)


# faust/mode's Worker clears the root handlers and applies a dictConfig at start: an incremental
# config changes nothing, and ``loghandlers=root_handlers()`` puts ours back.
FAUST_LOGGING_CONFIG: dict[str, Any] = {"version": 1, "incremental": True}
