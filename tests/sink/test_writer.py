"""The writer: deterministic dedup tokens, bad rows isolated by bisection, outages surfaced."""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from services.sink import samples
from services.sink.rows import BY_TABLE, Source
from services.sink.writer import TableWriter, Unavailable, dedup_token, is_transient

BASE = 1_763_700_000_000


class FakeClient:
    """Refuses any insert containing a plate in ``bad`` (as a server-side data error)."""

    def __init__(self, bad: set[str], down: bool = False) -> None:
        self.bad = bad
        self.down = down
        self.rows: list[str] = []
        self.tokens: list[str] = []

    def query(self, sql: str, parameters: Any = None, settings: Any = None) -> Any:
        class R:
            def __init__(self) -> None:
                self.result_rows = [
                    ("alert_id", "String"),
                    ("plate", "String"),
                    ("topic", "String"),
                    ("partition", "UInt16"),
                    ("offset", "UInt64"),
                ]

        return R()

    def insert(self, table: str, data: list[list[Any]], column_names: list[str], **kw: Any) -> None:
        if self.down:
            raise OperationalError("connection refused")
        plates = data[column_names.index("plate")]
        if self.bad & set(plates):
            raise DatabaseError("Code: 117. DB::Exception: bad data (INCORRECT_DATA)")
        self.rows.extend(data[column_names.index("alert_id")])
        self.tokens.append(kw["settings"]["insert_deduplication_token"])


def _batch(n: int) -> tuple[list[dict[str, Any]], list[Source]]:
    recs = [samples.alert(i, base_ts=BASE) for i in range(n)]
    return recs, [Source("alerts", 0, 100 + i) for i in range(n)]


def test_bad_rows_are_isolated_and_the_rest_inserted() -> None:
    recs, srcs = _batch(16)
    bad = {recs[3]["plate"], recs[11]["plate"]}
    client = FakeClient(bad)
    result = TableWriter(client=client, database="d", mapping=BY_TABLE["alerts"]).insert(recs, srcs)
    assert sorted(i for i, _ in result.rejected) == [3, 11]
    assert result.inserted == 14
    assert set(client.rows) == {r["alert_id"] for i, r in enumerate(recs) if i not in (3, 11)}


def test_outage_raises_unavailable_without_rejecting_anything() -> None:
    recs, srcs = _batch(4)
    with pytest.raises(Unavailable):
        TableWriter(
            client=FakeClient(set(), down=True), database="d", mapping=BY_TABLE["alerts"]
        ).insert(recs, srcs)


def test_dedup_token_names_exactly_the_batch() -> None:
    _, srcs = _batch(10)
    assert dedup_token("alerts", srcs) == dedup_token("alerts", list(reversed(srcs)))
    assert dedup_token("alerts", srcs) != dedup_token("alerts", srcs[:-1])
    assert dedup_token("alerts", srcs) != dedup_token("plate_events", srcs)


def test_transient_classification() -> None:
    assert is_transient(OperationalError("refused"))
    assert is_transient(DatabaseError("Code: 241. DB::Exception: Memory limit exceeded"))
    assert not is_transient(DatabaseError("Code: 117. DB::Exception: bad data"))
    assert not is_transient(ValueError("x"))
