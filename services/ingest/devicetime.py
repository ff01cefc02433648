"""Device timestamps to UTC epoch milliseconds: ISO 8601, Axis and compact forms, epoch numbers.

A time without an offset is read in the device's zone (``default_tz``); anything outside the
accepted range raises BadInputError, which the push answers with a 4xx naming the field.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from platestream.errors import BadInputError

_AXIS_TIME = re.compile(r"^(\d{8})\s+(\d{6})(\d{0,3})\s*([+-]\d{4})?$")


_COMPACT_TIME = re.compile(r"^(\d{14})(\d{3})?$")


def parse_time(value: Any, *, default_tz: timezone = UTC) -> tuple[int, str]:
    """Epoch ms and the text as sent. Accepts ISO 8601 (with or without offset; naive means
    ``default_tz``), epoch seconds/ms/µs numbers, ``YYYYMMDD HHMMSSFFF[+HHMM]`` (Axis) and
    ``YYYYMMDDHHMMSS[FFF]`` (Hikvision absTime)."""
    if value is None or value == "":
        raise BadInputError("event time is missing")
    if isinstance(value, bool):
        raise BadInputError(f"event time is not a time: {value!r}")
    if isinstance(value, int | float):
        return _epoch_number(float(value)), str(value)
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text) and not _COMPACT_TIME.match(text):
            return _epoch_number(float(text)), text
        m = _AXIS_TIME.match(text)
        if m:
            date, hms, frac, off = m.groups()
            dt = datetime.strptime(date + hms, "%Y%m%d%H%M%S")
            dt = dt.replace(microsecond=int((frac or "0").ljust(3, "0")) * 1000)
            tz = _offset(off) if off else default_tz
            return _ms(dt.replace(tzinfo=tz)), text
        m = _COMPACT_TIME.match(text)
        if m:
            dt = datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(
                microsecond=int(m.group(2) or 0) * 1000, tzinfo=default_tz
            )
            return _ms(dt), text
        iso = text.replace("Z", "+00:00").replace("z", "+00:00")
        if " " in iso and "T" not in iso:
            iso = iso.replace(" ", "T", 1)
        dt = datetime.fromisoformat(iso)
    except (ValueError, OverflowError) as exc:
        raise BadInputError(f"unreadable event time {text[:64]!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    return _ms(dt), text


def _ms(dt: datetime) -> int:
    ms = int(dt.timestamp() * 1000)
    _check_range(ms)
    return ms


def _offset(text: str) -> timezone:
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5])))


def _epoch_number(value: float) -> int:
    if value != value or value in (float("inf"), float("-inf")):  # NaN / inf
        raise BadInputError("event time is not a finite number")
    if value > 1e17:  # nanoseconds
        ms = int(value / 1e6)
    elif value > 1e14:  # microseconds
        ms = int(value / 1e3)
    elif value > 1e11:  # milliseconds
        ms = int(value)
    else:  # seconds
        ms = int(value * 1000)
    _check_range(ms)
    return ms


def _check_range(ms: int) -> None:
    # 2000-01-01 .. 2100-01-01: anything else is a device clock or parse error, not an event time.
    if not 946_684_800_000 <= ms < 4_102_444_800_000:
        raise BadInputError(f"event time {ms} ms is outside 2000..2100")
