"""Replay's pure parts: time parsing, range filters, table selection."""

from __future__ import annotations

import pytest

from platestream.errors import SinkError
from services.sink.replay import Filter, Range, select_tables
from services.sink.replay_cli import parse_time


def test_parse_time() -> None:
    assert parse_time("1700000000000") == 1_700_000_000_000
    assert parse_time("2023-11-14T22:13:20Z") == 1_700_000_000_000
    assert parse_time("2023-11-14T22:13:20") == 1_700_000_000_000  # no offset: UTC
    assert parse_time("2023-11-14T23:13:20+01:00") == 1_700_000_000_000


def test_filter_by_time_and_camera() -> None:
    f = Filter(from_ms=10, to_ms=20, camera="a")
    assert f.keep({"ts": 10, "camera_id": "a"}) and f.keep({"ts": 20, "camera_id": "a"})
    assert not f.keep({"ts": 21, "camera_id": "a"}) and not f.keep({"ts": 15, "camera_id": "b"})
    assert Filter().keep({"ts": 1})


def test_select_tables() -> None:
    assert [t.table for t in select_tables(["alerts"])] == ["alerts"]
    assert "audit_log" not in [t.table for t in select_tables(None, camera="c")]
    with pytest.raises(SinkError):
        select_tables(["nope"])


def test_range_size_hint() -> None:
    assert Range("t", 0, 5, 9).size_hint(100) == 5
    assert Range("t", 0, 5, None).size_hint(100) == 95
