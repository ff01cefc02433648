"""Record headers every producer can add: the event type and a W3C ``traceparent``.

A consumer can route or filter on ``event-type`` (the Avro full name of the value's schema, the
same name the registry's record strategy uses) without decoding the value, and tracing tools
join the records of one camera push across stages by the trace id in ``traceparent``
(https://www.w3.org/TR/trace-context/: ``00-<32 hex trace id>-<16 hex span id>-<2 hex flags>``).
"""

from __future__ import annotations

import re
import secrets
from functools import lru_cache

from platestream import topics as catalogue

EVENT_TYPE = "event-type"
TRACEPARENT = "traceparent"
_TRACEPARENT = re.compile(r"00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")


def new_traceparent(trace_id: str | None = None) -> str:
    """A sampled span: in trace ``trace_id`` (a child span), else in a new trace."""
    return f"00-{trace_id or secrets.token_hex(16)}-{secrets.token_hex(8)}-01"


def trace_id(traceparent: str | bytes | None) -> str | None:
    """The trace id of a valid ``traceparent`` value, else None."""
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode("ascii", "replace")
    m = _TRACEPARENT.fullmatch(traceparent or "")
    if m is None or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
        return None
    return m.group(1)


@lru_cache(maxsize=256)
def event_type(topic: str) -> str | None:
    """The Avro full name of the records on ``topic`` (a catalogue topic, with or without the
    configured prefix), or None for a topic outside the catalogue."""
    from platestream.registry import fullname
    from platestream.serde import SCHEMA_DIR, load_schema_file

    found = next((t for t in catalogue.ALL if t.name == topic), None) or next(
        (t for t in catalogue.ALL if topic.endswith(t.name)), None
    )
    if found is None:
        return None
    return fullname(load_schema_file(SCHEMA_DIR / f"{found.schema}.avsc"))


def record_headers(
    topic: str, traceparent: str | None = None
) -> list[tuple[str, str | bytes | None]]:
    """Headers for one record produced to ``topic``; a new trace unless ``traceparent`` is
    given (the record is then a step of that trace)."""
    headers: list[tuple[str, str | bytes | None]] = []
    kind = event_type(topic)
    if kind is not None:
        headers.append((EVENT_TYPE, kind.encode()))
    parent = trace_id(traceparent)
    headers.append((TRACEPARENT, new_traceparent(parent).encode()))
    return headers
