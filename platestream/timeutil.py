"""Time helpers: the project carries times as int epoch milliseconds (UTC)."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def to_ms(dt: datetime) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def iso_utc(ms: int | None = None) -> str:
    """``2026-12-03T02:04:05Z``: epoch ms (now when None) to the second, as query strings take it."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(None if ms is None else ms / 1000))
