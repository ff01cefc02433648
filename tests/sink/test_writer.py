"""The writer: deterministic dedup tokens, bad rows isolated by bisection, outages surfaced."""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from services.sink import samples
from services.sink.rows import BY_TABLE, Source
from services.sink.writer import TableWriter, Unavailable, dedup_token, is_transient

BASE = 1_763_700_000_000


@pytest.fixture(autouse=True)
def _no_retry_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("services.sink.writer.LONE_ROW_RETRIES_S", (0.0, 0.0))


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


class FlakyClient(FakeClient):
    """Refuses the first ``fails`` inserts holding a given plate with a server error that names
    no data (a server stopping mid-statement), then takes it; or goes down after refusing."""

    def __init__(self, plate: str, fails: int, then_down: bool = False) -> None:
        super().__init__(set())
        self.plate, self.fails, self.then_down = plate, fails, then_down

    def insert(self, table: str, data: list[list[Any]], column_names: list[str], **kw: Any) -> None:
        if self.plate in data[column_names.index("plate")] and self.fails > 0:
            self.fails -= 1
            if self.fails == 0 and self.then_down:
                self.down = True
            raise DatabaseError(
                "Code: 1001. DB::Exception: AttributeError: 'NoneType' object has no attribute"
                " 'query'. (STD_EXCEPTION)"
            )
        super().insert(table, data, column_names, **kw)


def test_a_row_refused_alone_is_sent_again_before_it_is_dead_lettered() -> None:
    recs, srcs = _batch(8)
    # refused in the batch, its half, its quarter and alone: then taken on the first retry
    client = FlakyClient(recs[5]["plate"], fails=4)
    result = TableWriter(client=client, database="d", mapping=BY_TABLE["alerts"]).insert(recs, srcs)
    assert result.rejected == [] and result.inserted == 8
    assert set(client.rows) == {r["alert_id"] for r in recs}


def test_a_row_refused_every_time_is_dead_lettered_after_the_retries() -> None:
    recs, srcs = _batch(8)
    client = FlakyClient(recs[5]["plate"], fails=100)
    result = TableWriter(client=client, database="d", mapping=BY_TABLE["alerts"]).insert(recs, srcs)
    assert [i for i, _ in result.rejected] == [5] and result.inserted == 7
    assert client.fails == 100 - 4 - 2  # batch, half, quarter, alone, then the two retries


def test_a_server_that_goes_down_while_a_row_is_retried_keeps_the_batch() -> None:
    recs, srcs = _batch(8)
    client = FlakyClient(recs[5]["plate"], fails=4, then_down=True)
    with pytest.raises(Unavailable):
        TableWriter(client=client, database="d", mapping=BY_TABLE["alerts"]).insert(recs, srcs)
