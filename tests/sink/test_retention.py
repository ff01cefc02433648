"""Retention: after the migrations every MergeTree table has a TTL, on the same time column as its
partitioning, with the days from the sink's retention settings; plate_first_last_seen (which had
none) forgets a plate whose passages have expired; the corrections topic has a retention."""

from __future__ import annotations

import re
from typing import Any

import pytest

from platestream import topics as catalogue
from platestream.clickhouse import make_clickhouse
from services.sink import migrations as m
from services.sink.settings import DEFAULT_RETENTION_DAYS, RETENTION_TABLES, SinkSettings

from .helpers import sink_settings

# Bookkeeping, not data: the record of applied migrations.
# the erasure ledger is kept for ever: it must outlive every copy it erases (docs/privacy.md 4)
NO_TTL = {"schema_migrations", "erasures"}
_TTL = re.compile(r"\bTTL (.+?) \+ (?:toIntervalDay\((\d+)\)|INTERVAL (\d+) DAY)")
_PARTITION = re.compile(r"\bPARTITION BY toYYYYMM\((\w+)\)")


def _tables(client: Any, db: str) -> dict[str, str]:
    rows = client.query(
        "SELECT name, create_table_query FROM system.tables "
        f"WHERE database = '{db}' AND engine LIKE '%MergeTree%'"
    ).result_rows
    return {name: query for name, query in rows}


def _ttl(query: str) -> tuple[str, int] | None:
    found = _TTL.search(query)
    if found is None:
        return None
    return found.group(1), int(found.group(2) or found.group(3))


def test_every_retention_setting_has_a_default_and_renders_an_alter() -> None:
    assert set(DEFAULT_RETENTION_DAYS) == set(RETENTION_TABLES)
    sql = m.render(m.load_migrations()[5].sql, SinkSettings(), database="db1")
    for table in ("plate_first_last_seen", "anomalies", "corrections", "plate_event_index"):
        assert f"ALTER TABLE `db1`.{table} MODIFY TTL" in sql
    kept = m.render(
        m.load_migrations()[5].sql, SinkSettings(sink_retention_days_corrections=0), database="db1"
    )
    assert "`db1`.corrections" not in kept  # 0 days: kept forever, no statement at all
    assert m.split_statements(kept)  # the others are still there


@pytest.mark.integration
def test_every_mergetree_table_has_a_ttl_on_its_partition_column(settings: Any) -> None:
    sink = sink_settings(
        settings,
        sink_retention_days_plate_reads=7,
        sink_retention_days_plate_events=400,
        sink_retention_days_anomalies=90,
    )
    client = make_clickhouse(sink, database="default")
    m.migrate(client, sink)
    tables = _tables(client, sink.clickhouse_database)
    assert {"plate_events", "plate_first_last_seen", "anomalies", "plate_dictionary"} <= set(tables)
    days = sink.retention_days()
    for name, query in tables.items():
        if name in NO_TTL:
            continue
        ttl = _ttl(query)
        assert ttl is not None, f"{name} has no TTL: {query[-300:]}"
        expr, n = ttl
        partition = _PARTITION.search(query)
        if partition is not None:
            assert expr == f"toDateTime({partition.group(1)})", (name, expr, partition.group(0))
        if name in days:
            assert n == days[name], (name, n)
        else:  # derived tables follow the table they summarise
            assert n == days["plate_events"], (name, n)
    assert _ttl(tables["plate_reads"])[1] == 7
    assert _ttl(tables["anomalies"]) == ("toDateTime(ts)", 90)
    assert _ttl(tables["plate_first_last_seen"])[0] == "toDateTime(finalizeAggregation(last_seen))"
    # the new optional field reaches the tables
    for table in ("plate_events", "camera_events"):
        assert "`region` LowCardinality(Nullable(String))" in tables[table]


INSERT = """
INSERT INTO {db}.plate_events (event_id, version, camera_id, ts, plate, confidence, first_seen,
    last_seen, read_count, variants, read_ids, best_read_id, image_keys, image_kinds, source,
    access_status, watchlist_hits, emitted_at, topic, partition, offset, country, region)
VALUES ('{eid}', 0, 'cam-1', {t}, '{plate}', 0.9, {t}, {t}, 1, [], [], '', [], [], 'test',
    'unknown', [], {t}, 't', 0, {off}, 'US', 'IN')
"""


@pytest.mark.integration
def test_expired_passages_leave_first_last_seen_and_the_search_index(settings: Any) -> None:
    sink = sink_settings(settings, sink_retention_days_plate_events=30)
    admin = make_clickhouse(sink, database="default")
    m.migrate(admin, sink)
    db = f"`{sink.clickhouse_database}`"
    old = "now64(3) - INTERVAL 40 DAY"
    new = "now64(3) - INTERVAL 1 DAY"
    for i, (plate, t) in enumerate([("OLD1", old), ("NEW1", new)]):
        admin.command(INSERT.format(db=db, eid=f"e{i}", t=t, plate=plate, off=i))
    for table in ("plate_events", "plate_first_last_seen", "plate_event_index", "plate_dictionary"):
        admin.command(f"OPTIMIZE TABLE {db}.{table} FINAL")
    for table in ("plate_events", "plate_first_last_seen", "plate_event_index", "plate_dictionary"):
        plates = {r[0] for r in admin.query(f"SELECT plate FROM {db}.{table}").result_rows}
        assert plates == {"NEW1"}, (table, plates)
    [(country, region)] = admin.query(f"SELECT country, region FROM {db}.plate_events").result_rows
    assert (country, region) == ("US", "IN")


def test_corrections_topic_has_a_retention() -> None:
    assert catalogue.CORRECTIONS.retention_ms > 0
    assert catalogue.CORRECTIONS.config()["retention.ms"] == str(catalogue.CORRECTIONS.retention_ms)
    # at least as long as the passages they correct stay in their topic
    assert catalogue.CORRECTIONS.retention_ms >= catalogue.PLATE_EVENTS.retention_ms
