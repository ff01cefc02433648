"""Exactly once in the table: events produced twice, the sink killed with SIGKILL mid-batch and restarted."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from platestream.timeutil import now_ms
from services.sink import samples
from services.sink.service import group_id
from tests.sink.helpers import (
    committed,
    end_offsets,
    migrated,
    produce,
    scalar,
    sink_settings,
    start_sink_process,
    stop_process,
    wait_until,
)

pytestmark = pytest.mark.integration

N = 10_000


def test_duplicates_and_a_kill_minus_9_leave_each_event_exactly_once(
    settings, tmp_path: Path
) -> None:
    # Small batches so the kill lands between inserts of a run that is still going.
    s = sink_settings(settings, sink_batch_rows=1_000, sink_batch_ms=300)
    ch = migrated(s)
    table = f"`{s.clickhouse_database}`.plate_events"
    base = now_ms() - 3_600_000
    events = [samples.plate_event(i, base_ts=base) for i in range(N)]
    placed = produce(s, "plate_events", events)
    placed += produce(
        s, "plate_events", events
    )  # an at-least-once upstream delivered everything twice
    ends = end_offsets(placed)
    group = group_id(s, s.sink_group_clickhouse)
    topic = s.topic("anpr.plate-events.v1")
    log = tmp_path / "sink.log"

    proc = start_sink_process(s, log, "clickhouse")
    try:
        wait_until(
            lambda: scalar(ch, f"SELECT count() FROM {table}") >= 2_000 or proc.poll() is not None,
            120,
            "the first inserts",
        )
        assert proc.poll() is None, log.read_text()[-3000:]
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        stop_process(proc)
    partial = scalar(ch, f"SELECT count() FROM {table}")
    assert partial < 2 * N, "the kill came after the whole log was inserted: not mid-run"

    proc = start_sink_process(s, log, "clickhouse")
    try:
        wait_until(
            lambda: committed(s, group, topic, list(ends)) == ends or proc.poll() is not None,
            150,
            "the restarted sink to commit the end of the log",
            interval=0.5,
        )
        assert proc.poll() is None, log.read_text()[-3000:]
    finally:
        stop_process(proc)
    assert scalar(ch, f"SELECT count() FROM {table} FINAL") == N
    ids = {r[0] for r in ch.query(f"SELECT event_id FROM {table} FINAL").result_rows}
    assert ids == {e["event_id"] for e in events}
    assert scalar(ch, f"SELECT uniqExact(event_id) FROM {table}") == N
