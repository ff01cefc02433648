"""Replay and rebuild: a rebuild yields the same rows; a time range goes through the event index."""

from __future__ import annotations

import subprocess
import sys

import pytest

from platestream.timeutil import now_ms
from services.sink import samples
from services.sink.rows import TABLES
from services.sink.service import group_id
from tests.sink.helpers import (
    REPO,
    committed,
    end_offsets,
    env_for,
    migrated,
    produce,
    sink_settings,
    sink_thread,
    wait_until,
)

pytestmark = pytest.mark.integration


def _snapshot(ch, db: str, table: str) -> list[tuple]:
    cols = [
        r[0]
        for r in ch.query(
            "SELECT name FROM system.columns WHERE database = {d:String} AND table = {t:String} "
            "AND name != 'inserted_at' ORDER BY position",
            parameters={"d": db, "t": table},
        ).result_rows
    ]
    return ch.query(
        f"SELECT {', '.join(f'`{c}`' for c in cols)} FROM `{db}`.`{table}` FINAL "
        f"ORDER BY {', '.join(f'`{c}`' for c in cols[:3])}, offset"
    ).result_rows


def _cli(s, *args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "platestream.cli", "replay", *args, "--no-progress"],
        cwd=REPO,
        env=env_for(s),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_rebuild_yields_the_same_rows_and_a_time_range_replays_through_the_index(settings) -> None:
    s = sink_settings(settings)
    ch = migrated(s)
    db = s.clickhouse_database
    base = now_ms() - 3_600_000
    events = [samples.plate_event(i, base_ts=base) for i in range(2_000)]  # ts = base + 10 ms * i
    placed = produce(s, "plate_events", events)
    placed_other = {}
    for t in TABLES[1:]:
        placed_other[t.table] = produce(
            s, t.table, [samples.FACTORIES[t.schema](i, base_ts=base) for i in range(20)]
        )
    ends = end_offsets(placed)
    with sink_thread(s, {"clickhouse"}):
        wait_until(
            lambda: (
                committed(
                    s,
                    group_id(s, s.sink_group_clickhouse),
                    s.topic("anpr.plate-events.v1"),
                    list(ends),
                )
                == ends
            ),
            90,
            "the sink to commit everything",
            interval=0.5,
        )
        wait_until(
            lambda: all(
                ch.query(f"SELECT count() FROM `{db}`.{t.table}").result_rows[0][0] >= 20
                for t in TABLES
            ),
            30,
            "every table",
        )
    before = {t.table: _snapshot(ch, db, t.table) for t in TABLES}
    assert len(before["plate_events"]) == 2_000

    out = _cli(s, "--rebuild", "--yes")
    assert "inserted" in out
    after = {t.table: _snapshot(ch, db, t.table) for t in TABLES}
    for t in TABLES:
        assert after[t.table] == before[t.table], t.table
    hourly = ch.query(
        f"SELECT sum(c) FROM (SELECT uniqMerge(passages) AS c FROM `{db}`.camera_hourly_counts "
        "GROUP BY camera_id, hour, direction, vehicle_type)"
    ).result_rows[0][0]
    assert hourly == 2_000  # the materialized views were rebuilt too

    # A time range for one camera, found through the event index, into another database.
    lo, hi = events[500]["ts"], events[899]["ts"]
    camera = "cam-north"
    out = _cli(
        s, "--from", str(lo), "--to", str(hi), "--camera", camera, "--into-database", f"{db}_r"
    )
    expected = sorted(e["event_id"] for e in events[500:900] if e["camera_id"] == camera)
    got = sorted(
        r[0] for r in ch.query(f"SELECT event_id FROM `{db}_r`.plate_events FINAL").result_rows
    )
    assert got == expected and len(expected) == 100
    ch.command(f"DROP DATABASE IF EXISTS `{db}_r`")
