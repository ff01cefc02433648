"""Passages held back for a larger insert (PLATESTREAM_SINK_PASSAGES_BATCH_MS)."""

from __future__ import annotations

import time

import pytest

from platestream.timeutil import now_ms
from services.sink import samples
from services.sink.batch import Batch
from services.sink.rows import BY_TABLE
from tests.fakes import Record
from tests.sink.helpers import migrated, produce, scalar, sink_settings, sink_thread, wait_until


def test_hold_back_moves_the_young_passages_and_their_offsets() -> None:
    events, reads = BY_TABLE["plate_events"], BY_TABLE["plate_reads"]
    batch = Batch()
    for i in range(3):
        batch.add(events, {"n": i}, Record("p.events", 0, 10 + i))  # type: ignore[arg-type]
        batch.add(reads, {"n": i}, Record("p.reads", 1, 20 + i))  # type: ignore[arg-type]
    batch.mark(Record("p.events", 2, 5))  # type: ignore[arg-type]  # a dead letter of that topic
    topics = {"p.events": "plate_events"}
    later = batch.hold_back({"plate_events"}, topics, max_age_s=2.0, batch_age_s=0.3)
    assert set(batch.tables) == {"plate_reads"} and batch.size == 3
    assert batch.next_offsets == {("p.reads", 1): 23}
    assert set(later.tables) == {"plate_events"} and later.size == 3
    assert later.next_offsets == {("p.events", 0): 13, ("p.events", 2): 6}
    # the held-back batch is due (0.3 s old) when its passages are 2 s old, not before
    assert 1.6 < -later.age() + 0.3 <= 2.0
    # a read arriving meanwhile makes it due on the read's own clock
    later.add(reads, {"n": 9}, Record("p.reads", 1, 30))  # type: ignore[arg-type]
    assert 0.0 <= later.age() < 0.1
    # old enough: nothing is held back
    later.tables["plate_events"].started -= 5.0
    again = later.hold_back({"plate_events"}, topics, max_age_s=2.0, batch_age_s=0.3)
    assert again.empty() and not again.tables and "plate_events" in later.tables


@pytest.mark.integration
def test_held_back_passages_are_inserted_once_and_committed(settings) -> None:  # type: ignore[no-untyped-def]
    s = sink_settings(settings, sink_passages_batch_ms=1500)
    ch = migrated(s)
    db = s.clickhouse_database
    base = now_ms() - 3_600_000
    with sink_thread(s, {"clickhouse"}):
        for round_ in range(3):
            produce(
                s,
                "plate_reads",
                [samples.plate_read(round_ * 10 + i, base_ts=base) for i in range(10)],
            )
            produce(
                s,
                "plate_events",
                [samples.plate_event(round_ * 10 + i, base_ts=base) for i in range(10)],
            )
            time.sleep(0.4)
        wait_until(lambda: scalar(ch, f"SELECT count() FROM `{db}`.plate_reads") >= 30, 30, "reads")
        wait_until(
            lambda: scalar(ch, f"SELECT count() FROM `{db}`.plate_events") >= 30, 30, "passages"
        )
        time.sleep(1.0)  # a later flush would show a second copy
    assert scalar(ch, f"SELECT count() FROM `{db}`.plate_events") == 30
    assert scalar(ch, f"SELECT uniqExact(event_id) FROM `{db}`.plate_events") == 30
    # their offsets were committed with them: a restarted sink inserts nothing again
    with sink_thread(s, {"clickhouse"}):
        produce(s, "plate_reads", [samples.plate_read(99, base_ts=base)])
        wait_until(lambda: scalar(ch, f"SELECT count() FROM `{db}`.plate_reads") >= 31, 30, "read")
        time.sleep(2.0)
    assert scalar(ch, f"SELECT count() FROM `{db}`.plate_events") == 30
    assert scalar(ch, f"SELECT count() FROM `{db}`.plate_reads") == 31
