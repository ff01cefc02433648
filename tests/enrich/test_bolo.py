"""Watchlist matching through the indexes, validity, scope and access status."""

from __future__ import annotations

import time

import pytest

from platestream.plates import plate_distance
from services.enrich.bolo import Entry, Watchlists, access_status, deletions


def entry(eid: str, pattern: str, match_type: str = "exact", **kw: object) -> Entry:
    rec = {
        "entry_id": eid,
        "list_id": kw.pop("list_id", "stolen"),
        "list_kind": kw.pop("list_kind", "bolo"),
        "pattern": pattern,
        "match_type": match_type,
        "updated_at": 0,
        **kw,
    }
    return Entry.from_record(rec)


def ids(
    wl: Watchlists, plate: str, ts: int = 1000, camera: str = "cam1", zone: str | None = None
) -> list[str]:
    return sorted(e.entry_id for e in wl.match(plate, ts=ts, camera_id=camera, zone=zone))


def test_exact_and_skeleton() -> None:
    wl = Watchlists()
    wl.upsert(entry("e1", "abc-1234"))
    wl.upsert(entry("a1", "ABC1234", list_kind="allow", list_id="staff"))
    assert ids(wl, "ABC1234") == ["a1", "e1"]
    # OCR look-alike (B/8): the BOLO entry still hits, the allow entry does not
    assert ids(wl, "A8C1234") == ["e1"]
    assert ids(wl, "ABC1235") == []


def test_wildcard_prefix_and_scan() -> None:
    wl = Watchlists()
    wl.upsert(entry("w1", "ABC*", "wildcard"))
    wl.upsert(entry("w2", "AB?12??", "wildcard"))
    wl.upsert(entry("w3", "*999", "wildcard"))  # no literal prefix: scanned
    assert ids(wl, "ABC1234") == ["w1", "w2"]
    assert ids(wl, "ABX1299") == ["w2"]
    assert ids(wl, "XY1999") == ["w3"]
    assert ids(wl, "AB1234") == []


def test_regex_anchored_on_whole_plate() -> None:
    wl = Watchlists()
    wl.upsert(entry("r1", r"^KLM\d{3}$", "regex"))
    wl.upsert(entry("r2", r"[0-9]{3}ZZ", "regex"))  # no literal prefix
    assert ids(wl, "KLM123") == ["r1"]
    assert ids(wl, "KLM1234") == []
    assert ids(wl, "XKLM123") == []
    assert ids(wl, "123ZZ") == ["r2"]
    with pytest.raises(ValueError):
        entry("bad", "([", "regex")


def test_fuzzy_index_agrees_with_brute_force() -> None:
    wl = Watchlists()
    wl.upsert(entry("f1", "ABC1234", "fuzzy", max_distance=1))
    wl.upsert(entry("f2", "XYZ987", "fuzzy", max_distance=2))
    probes = [
        "ABC1234",
        "ABC124",
        "A8C1234",
        "4BC1Z34",
        "ABD1235",
        "XYZ98",
        "XY9870",
        "XZ98",
        "QQQ111",
    ]
    for plate in probes:
        expected = sorted(
            e.entry_id
            for e in wl.entries.values()
            if plate_distance(plate, e.key) <= e.max_distance
        )
        assert ids(wl, plate) == expected, plate
    assert ids(wl, "ABC124") == ["f1"]
    assert ids(wl, "XZ98") == ["f2"]  # two deletions
    assert ids(wl, "XZ9") == []  # three


def test_validity_window_and_scope() -> None:
    wl = Watchlists()
    wl.upsert(entry("v1", "ABC1234", valid_from=1000, valid_until=2000))
    wl.upsert(entry("c1", "ABC1234", camera_ids=["gate"]))
    wl.upsert(entry("z1", "ABC1234", zones=["north"]))
    assert ids(wl, "ABC1234", ts=999, camera="x") == []
    assert ids(wl, "ABC1234", ts=1500, camera="x") == ["v1"]
    assert ids(wl, "ABC1234", ts=2001, camera="gate") == ["c1"]
    assert ids(wl, "ABC1234", ts=2001, camera="x", zone="north") == ["z1"]


def test_update_and_delete_reindex() -> None:
    wl = Watchlists()
    wl.apply(
        "e1",
        {
            "entry_id": "e1",
            "list_id": "l",
            "list_kind": "bolo",
            "pattern": "ABC1234",
            "match_type": "exact",
            "updated_at": 0,
        },
    )
    assert ids(wl, "ABC1234") == ["e1"]
    wl.apply(
        "e1",
        {
            "entry_id": "e1",
            "list_id": "l",
            "list_kind": "bolo",
            "pattern": "ZZZ999",
            "match_type": "exact",
            "updated_at": 1,
        },
    )
    assert ids(wl, "ABC1234") == []
    assert ids(wl, "ZZZ999") == ["e1"]
    wl.apply("e1", None)
    assert ids(wl, "ZZZ999") == []
    assert len(wl) == 0


def test_access_status() -> None:
    bolo, allow = entry("b", "A1"), entry("a", "A1", list_kind="allow")
    assert access_status([]) == "unknown"
    assert access_status([allow]) == "allowed"
    assert access_status([allow, bolo]) == "watchlisted"


def test_deletions() -> None:
    assert deletions("ABC", 1) == {"ABC", "BC", "AC", "AB"}
    assert len(deletions("ABCD", 2)) == 1 + 4 + 6


def test_hundred_thousand_entries_match_fast() -> None:
    wl = Watchlists()
    entries = []
    for i in range(100_000):
        kind = ("exact", "wildcard", "fuzzy", "regex")[i % 4]
        pat = f"{chr(65 + i % 26)}{chr(65 + (i // 26) % 26)}{i % 100000:05d}"
        if kind == "wildcard":
            pat = pat[:4] + "*"
        elif kind == "regex":
            pat = pat[:3] + r"\d{4}"
        entries.append(entry(f"e{i}", pat, kind, max_distance=1))
    wl.load(entries)
    plates = [f"{chr(65 + i % 26)}{chr(66 + i % 20)}{i:05d}" for i in range(2000)]
    t0 = time.perf_counter()
    total = sum(len(wl.match(p, ts=0, camera_id="c", zone=None)) for p in plates)
    per_plate_us = (time.perf_counter() - t0) / len(plates) * 1e6
    assert total > 0
    assert per_plate_us < 2000  # generous: a scan of 100,000 patterns would take ~50 ms per plate
