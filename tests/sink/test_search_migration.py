"""Migration 003_search: its tables are projections like the others, dropped and refilled by a rebuild."""

from __future__ import annotations

from typing import Any

import pytest

from platestream.clickhouse import make_clickhouse
from services.sink import migrations as m
from services.sink.settings import SinkSettings

SEARCH_TABLES = (
    "plate_dictionary",
    "plate_variants",
    "plate_grams",
    "plate_event_index",
    "plate_event_versions",
)


def test_a_rebuild_drops_and_recreates_every_search_table_and_view() -> None:
    objects = m.created_objects()
    for table in SEARCH_TABLES:
        assert ("TABLE", table) in objects
        assert ("MATERIALIZED VIEW", f"{table}_mv") in objects
        # the view comes after its table, so drop_projections drops it first
        assert objects.index(("TABLE", table)) < objects.index(("MATERIALIZED VIEW", f"{table}_mv"))


def test_search_tables_render_replicated_with_retention() -> None:
    sql = m.render(
        m.load_migrations()[2].sql,
        SinkSettings(sink_engine="replicated", sink_retention_days_plate_events=30),
        database="db1",
    )
    assert sql.count("ReplicatedReplacingMergeTree(") == 4
    assert sql.count("ReplicatedAggregatingMergeTree(") == 1
    assert sql.count("TTL toDateTime(inserted_at) + INTERVAL 30 DAY") == 5


INSERT = """
INSERT INTO plate_events (event_id, version, camera_id, ts, plate, confidence, first_seen, last_seen,
    read_count, variants, read_ids, best_read_id, image_keys, image_kinds, source, access_status,
    watchlist_hits, emitted_at, topic, partition, offset)
SELECT concat('e', toString(number)), 0, 'cam-1', t, ['ABC1234', 'A8C1234', '粤B12345'][1 + number % 3],
    0.9, t, t, 1, [], [], '', [], [], 'test', 'unknown', [], t, 't', 0, number
FROM (SELECT number, toDateTime64('2026-11-01 00:00:00', 3, 'UTC') + number AS t FROM numbers(30))
"""


def _counts(client: Any) -> dict[str, int]:
    return {t: int(client.command(f"SELECT count() FROM {t} FINAL")) for t in SEARCH_TABLES}


@pytest.mark.integration
def test_views_fill_the_search_tables_and_a_rebuild_refills_them(settings: Any) -> None:
    sink = SinkSettings(**settings.model_dump())
    m.migrate(make_clickhouse(sink, database="default"), sink)
    client = make_clickhouse(settings)
    client.command(INSERT)
    client.command(INSERT)  # delivered twice: the tables hold it once
    filled = _counts(client)
    assert filled["plate_dictionary"] == 3
    assert filled["plate_event_index"] == filled["plate_event_versions"] == 30
    pairs = {(p[i : i + 3], p) for p in ("^ABC1234$", "^A8C1234$", "^粤B12345$") for i in range(7)}
    assert filled["plate_grams"] == len(pairs) == 21  # (gram, plate) once each
    passages = client.command(
        "SELECT uniqMerge(passages) FROM plate_dictionary WHERE plate = 'ABC1234'"
    )
    assert int(passages) == 10
    # rebuild: drop every projection, migrate again (empty), replay the log into plate_events
    m.drop_projections(client, settings.clickhouse_database)
    m.migrate(make_clickhouse(sink, database="default"), sink)
    assert set(_counts(client).values()) == {0}
    client.command(INSERT)
    assert _counts(client) == filled
