"""Hostile watchlist entries and plates: RE2 refusals are skipped, over-long plates match nothing."""

from __future__ import annotations

import logging
import time

import pytest

from platestream.limits import MAX_PLATE_CHARS
from services.enrich.bolo import Entry, Watchlists
from services.enrich.state import StateFollower
from tests.enrich.helpers import SERDE, bolo_entry


def rec(eid: str, pattern: str, match_type: str = "regex", **kw: object) -> dict[str, object]:
    return {"entry_id": eid, "list_id": "l", "pattern": pattern, "match_type": match_type, **kw}


def test_a_nested_quantifier_regex_matches_in_linear_time() -> None:
    wl = Watchlists()
    wl.apply("evil", rec("evil", "(A|AA)*(A|AA)*(A|AA)*B"))
    wl.apply("good", rec("good", "[A-Z]{2}[0-9]{3}"))
    started = time.perf_counter()
    for n in range(1, MAX_PLATE_CHARS + 1):
        assert [e.entry_id for e in wl.candidates("A" * n)] == []
    assert time.perf_counter() - started < 0.5
    assert [e.entry_id for e in wl.candidates("AAAB")] == ["evil"]
    assert [e.entry_id for e in wl.candidates("AB123")] == ["good"]


@pytest.mark.parametrize(
    ("pattern", "match_type", "why"),
    [
        (r"(AB)\1", "regex", "invalid escape"),
        ("(?<=A)B", "regex", "invalid perl operator"),
        ("A" * 65, "regex", "exceeds"),
        ("A" * 40, "exact", "longer than 32"),
        ("A" * 40, "fuzzy", "longer than 32"),
    ],
)
def test_entries_enrich_cannot_run_are_refused_with_a_reason(
    pattern: str, match_type: str, why: str
) -> None:
    with pytest.raises(ValueError, match=why):
        Entry.from_record(rec("x", pattern, match_type))


def test_the_state_follower_skips_a_refused_entry_and_keeps_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    wl = Watchlists()
    errors: list[BaseException] = []

    class Msg:
        def __init__(self, key: str, value: bytes) -> None:
            self._key, self._value = key, value

        def key(self) -> bytes:
            return self._key.encode()

        def value(self) -> bytes:
            return self._value

        def topic(self) -> str:
            return "bolo"

        def partition(self) -> int:
            return 0

        def offset(self) -> int:
            return 7

    follower = StateFollower(
        consumer=None,  # type: ignore[arg-type]  # _apply never touches it
        serde=SERDE,
        tables={"bolo": wl.apply},
        on_error=lambda _m, exc: errors.append(exc),
    )
    with caplog.at_level(logging.WARNING):
        for eid, pattern in (("bad", r"(A)\1"), ("ok", "AB.*")):
            value = SERDE.encode("bolo_entry", bolo_entry(eid, pattern, "regex"))
            follower._apply(Msg(eid, value))  # type: ignore[arg-type]
    assert list(wl.entries) == ["ok"]
    assert "bad state record bolo[0]@7: regex not accepted by RE2" in caplog.text
    assert len(errors) == 1


def test_an_over_long_plate_builds_no_fuzzy_variants() -> None:
    wl = Watchlists()
    wl.apply("f", rec("f", "ABC123", "fuzzy", max_distance=2))
    started = time.perf_counter()
    assert wl.candidates("A" * 50_000) == []
    assert time.perf_counter() - started < 0.05
    assert [e.entry_id for e in wl.candidates("ABC12")] == ["f"]
