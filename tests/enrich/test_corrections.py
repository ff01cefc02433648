"""Corrections make a new version of an event; the recent-events cache is bounded."""

from __future__ import annotations

import pytest

from platestream.errors import BadInputError
from services.enrich.corrections import RecentEvents, corrected

EVENT = {
    "event_id": "ev1",
    "version": 0,
    "plate": "ABC1Z34",
    "confidence": 0.6,
    "variants": ["ABC1Z34"],
    "camera_id": "c",
    "correction_id": None,
    "emitted_at": 1,
}


def test_correct_confirm_reject() -> None:
    v1 = corrected(
        EVENT, {"correction_id": "k1", "action": "correct", "plate": "abc-1234"}, emitted_at=9
    )
    assert (
        v1["version"],
        v1["plate"],
        v1["confidence"],
        v1["correction_id"],
        v1["emitted_at"],
    ) == (1, "ABC1234", 1.0, "k1", 9)
    assert v1["variants"] == ["ABC1Z34", "ABC1234"]
    assert EVENT["plate"] == "ABC1Z34"  # history is not edited
    v2 = corrected(v1, {"correction_id": "k2", "action": "confirm"}, emitted_at=10)
    assert (v2["version"], v2["plate"], v2["confidence"]) == (2, "ABC1234", 1.0)
    v3 = corrected(v2, {"correction_id": "k3", "action": "reject"}, emitted_at=11)
    assert (v3["version"], v3["confidence"]) == (3, 0.0)
    with pytest.raises(BadInputError):
        corrected(EVENT, {"correction_id": "k", "action": "correct", "plate": "--"}, emitted_at=1)
    with pytest.raises(BadInputError):
        corrected(EVENT, {"correction_id": "k", "action": "delete"}, emitted_at=1)


def test_recent_events_keeps_latest_version_and_is_bounded() -> None:
    cache = RecentEvents(2)
    cache.put("ev1", 0, b"v0")
    cache.put("ev1", 1, b"v1")
    cache.put("ev1", 0, b"v0 again")  # an older version arriving late does not win
    assert cache.get("ev1") == b"v1"
    cache.put("ev2", 0, b"two")
    cache.put("ev3", 0, b"three")
    assert cache.get("ev1") is None and len(cache) == 2
    assert cache.get("ev3") == b"three"
