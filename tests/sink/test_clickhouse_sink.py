"""The ClickHouse projection on the real local stack: rows with the right values, poison isolated."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from platestream.timeutil import now_ms
from services.sink import samples
from services.sink.rows import TABLES
from tests.sink.helpers import (
    dead_letters,
    migrated,
    produce,
    scalar,
    sink_settings,
    sink_thread,
    wait_until,
)

pytestmark = pytest.mark.integration


def naive_utc(ms: int) -> datetime:
    """How clickhouse-connect returns a DateTime64(3, 'UTC') value: naive, in UTC."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).replace(tzinfo=None)


def test_events_become_rows_with_the_right_values(settings) -> None:
    s = sink_settings(settings)
    ch = migrated(s)
    db = s.clickhouse_database
    base = now_ms() - 3_600_000
    event = samples.plate_event(3, base_ts=base, with_images=True)
    placed = produce(s, "plate_events", [event])
    for t in TABLES[1:]:
        produce(s, t.table, [samples.FACTORIES[t.schema](i, base_ts=base) for i in range(5)])
    with sink_thread(s, {"clickhouse"}):
        wait_until(
            lambda: all(
                scalar(ch, f"SELECT count() FROM `{db}`.{t.table}")
                >= (1 if t.table == "plate_events" else 5)
                for t in TABLES
            ),
            60,
            "rows in every table",
        )
        # a correction arrives as version 2 of the same event: the latest view shows it, once
        produce(
            s, "plate_events", [{**event, "version": 2, "plate": "ZZZ9Z99", "correction_id": "c-1"}]
        )
        wait_until(
            lambda: scalar(ch, f"SELECT count() FROM `{db}`.plate_events") >= 2, 30, "version 2"
        )

    row = (
        ch.query(
            f"SELECT event_id, camera_id, ts, plate, plate_skeleton, confidence, direction, vehicle_type, best_crop_key, "
            f"image_kinds, topic, partition, offset FROM `{db}`.plate_events WHERE version = 1"
        )
        .named_results()
        .__next__()
    )
    assert row["event_id"] == event["event_id"] and row["camera_id"] == event["camera_id"]
    assert row["ts"] == naive_utc(event["ts"])
    assert row["plate"] == event["plate"]
    assert row["direction"] == event["direction"] and row["vehicle_type"] == event["vehicle_type"]
    assert row["best_crop_key"].startswith(f"crops/{event['camera_id']}/") and row[
        "image_kinds"
    ] == ["plate", "vehicle"]
    assert (row["topic"], row["partition"], row["offset"]) == (
        s.topic("anpr.plate-events.v1"),
        *placed[0],
    )
    assert abs(row["confidence"] - 0.9) < 1e-6

    latest = ch.query(
        f"SELECT plate, version, correction_id FROM `{db}`.plate_events_latest"
    ).result_rows
    assert latest == [("ZZZ9Z99", 2, "c-1")]
    hourly = ch.query(
        f"SELECT camera_id, direction, vehicle_type, uniqMerge(passages) FROM `{db}`.camera_hourly_counts "
        "GROUP BY ALL"
    ).result_rows
    assert hourly == [
        (event["camera_id"], event["direction"] or "unknown", event["vehicle_type"] or "unknown", 1)
    ]
    seen = ch.query(
        f"SELECT minMerge(first_seen), maxMerge(last_seen), uniqMerge(passages) FROM `{db}`.plate_first_last_seen "
        "WHERE plate = {p:String}",
        parameters={"p": event["plate"]},
    ).result_rows
    assert seen == [(naive_utc(event["first_seen"]), naive_utc(event["last_seen"]), 1)]
    for t in TABLES[1:]:
        assert scalar(ch, f"SELECT count() FROM `{db}`.{t.table} FINAL") == 5
    audit = ch.query(
        f"SELECT actor, action, status, result_count FROM `{db}`.audit_log LIMIT 1"
    ).result_rows
    assert audit == [("analyst", "search", 200, 3)]


def test_poison_records_are_dead_lettered_with_their_bytes_and_the_rest_inserted(settings) -> None:
    s = sink_settings(settings)
    ch = migrated(s)
    base = now_ms() - 60_000
    good = [samples.plate_event(i, base_ts=base) for i in range(20)]
    bad_time = samples.plate_event(99, base_ts=base)
    bad_time["ts"] = 0  # 1970: would open a partition per month of garbage
    garbage = b"\x00\x00\x00\x00\x07not avro at all"
    produce(s, "plate_events", [*good[:10], garbage, bad_time, *good[10:]], key=b"cam")
    with sink_thread(s, {"clickhouse"}):
        wait_until(
            lambda: scalar(ch, f"SELECT count() FROM `{s.clickhouse_database}`.plate_events") >= 20,
            60,
            "20 rows",
        )
        letters = dead_letters(s, 2)
    assert (
        scalar(ch, f"SELECT uniqExact(event_id) FROM `{s.clickhouse_database}`.plate_events") == 20
    )
    assert len(letters) == 2
    by_type = {d["error_type"]: d for d in letters}
    assert set(by_type) == {"UnknownSchemaError", "BadInputError"}
    assert by_type["UnknownSchemaError"]["value"] == garbage
    assert by_type["BadInputError"]["source_topic"] == s.topic("anpr.plate-events.v1")
    assert all(d["stage"] == "sink" for d in letters)


def test_a_retried_batch_is_dropped_by_its_dedup_token(settings) -> None:
    """non_replicated_deduplication_window makes the token work on a local MergeTree (chDB too)."""
    from services.sink.rows import BY_TABLE, Source
    from services.sink.writer import TableWriter

    s = sink_settings(settings)
    ch = migrated(s)
    writer = TableWriter(client=ch, database=s.clickhouse_database, mapping=BY_TABLE["audit_log"])
    recs = [samples.audit(i, base_ts=now_ms()) for i in range(50)]
    sources = [Source("t", 0, i) for i in range(50)]
    writer.insert(recs, sources)
    writer.insert(recs, sources)  # the same batch again: e.g. the first reply was lost
    table = f"`{s.clickhouse_database}`.audit_log"
    assert (
        scalar(ch, f"SELECT count() FROM {table}") == 50
    )  # not FINAL: the block itself was dropped
    writer.insert(recs, [Source("t", 0, 100 + i) for i in range(50)])  # other offsets, other token
    assert scalar(ch, f"SELECT count() FROM {table}") in (50, 100)  # 50 once merged
    assert scalar(ch, f"SELECT count() FROM {table} FINAL") == 50
