"""Corrections: a user's fix of a plate event becomes a new version of the event, never an edit.

The processor keeps the latest version of recently emitted events (bounded LRU). A correction of
an event older than that cache must say where the latest version lies (``event_partition`` and
``event_offset`` on the Correction, filled by the API from the event index, which stores
topic/partition/offset); the processor then reads that one record back from the log.
Without either, the correction goes to the dead-letter topic with a clear error.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from platestream.errors import BadInputError
from platestream.plates import normalise

ACTIONS = ("confirm", "correct", "reject")


class RecentEvents:
    """The latest emitted version of recent events, by event id (LRU, bounded).

    Kept as the encoded records, not dicts: a bytes object is one allocation the cyclic garbage
    collector never scans, where an event dict is a dozen containers (read ids, variants,
    images). With 50,000 events kept, dicts made every full collection of the hot loop scan
    about a million objects. Corrections are rare; the caller decodes on demand.
    """

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._events: OrderedDict[str, tuple[int, bytes]] = OrderedDict()

    def put(self, event_id: str, version: int, payload: bytes) -> None:
        if self.capacity <= 0:
            return
        old = self._events.get(event_id)
        if old is not None and old[0] > version:
            return
        self._events[event_id] = (version, payload)
        self._events.move_to_end(event_id)
        while len(self._events) > self.capacity:
            self._events.popitem(last=False)

    def get(self, event_id: str) -> bytes | None:
        """The encoded latest version of ``event_id``, or None when it is not kept."""
        hit = self._events.get(event_id)
        return hit[1] if hit is not None else None

    def __len__(self) -> int:
        return len(self._events)


def corrected(
    event: dict[str, Any], correction: dict[str, Any], *, emitted_at: int
) -> dict[str, Any]:
    """The next version of ``event`` after ``correction``.

    correct: the plate becomes the corrected plate (confidence 1.0, a person read it);
    confirm: same plate, confidence 1.0; reject: same plate, confidence 0.0 (not a plate).
    Watchlist fields are recomputed by the caller for the new plate.
    """
    action = str(correction.get("action") or "").lower()
    if action not in ACTIONS:
        raise BadInputError(f"unknown correction action {action!r}")
    out = dict(event)
    out["version"] = int(event.get("version") or 0) + 1
    out["correction_id"] = correction["correction_id"]
    out["emitted_at"] = emitted_at
    if action == "correct":
        plate = normalise(correction.get("plate"))
        if not plate:
            raise BadInputError("correction without a plate")
        out["plate"] = plate
        out["confidence"] = 1.0
        if plate not in out.get("variants", []):
            out["variants"] = [*out.get("variants", []), plate]
    elif action == "confirm":
        out["confidence"] = 1.0
    else:
        out["confidence"] = 0.0
    return out


def latest_event(
    recent: RecentEvents,
    rec: dict[str, Any],
    fetch_event: Callable[[int, int], dict[str, Any] | None] | None,
    decode: Callable[[bytes], dict[str, Any]],
) -> dict[str, Any]:
    """The latest version of the event a correction names: the recent one kept in memory, else
    the record at the offset the correction carries; BadInputError when neither is found."""
    event_id = rec["event_id"]
    kept = recent.get(event_id)
    event = decode(kept) if kept is not None else None
    if event is None and fetch_event is not None and rec.get("event_offset") is not None:
        event = fetch_event(int(rec.get("event_partition") or 0), int(rec["event_offset"]))
        if event is not None and event.get("event_id") != event_id:
            raise BadInputError(
                f"record at the given offset is event {event.get('event_id')}, not {event_id}"
            )
    if event is None:
        raise BadInputError(
            f"event {event_id} is not among the {len(recent)} recent events and the correction"
            " carries no event_partition/event_offset to fetch it"
        )
    return event
