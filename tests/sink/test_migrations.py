"""Migrations: templates render for a local or replicated engine, and apply idempotently."""

from __future__ import annotations

import pytest

from platestream.clickhouse import make_clickhouse
from platestream.errors import SinkError
from services.sink import migrations as m
from services.sink.rows import TABLES
from services.sink.settings import SinkSettings


def _all_sql(settings: SinkSettings) -> str:
    return "\n".join(m.render(mig.sql, settings, database="db1") for mig in m.load_migrations())


def test_local_render_has_engine_ttl_dedup_window_and_no_placeholders() -> None:
    sql = _all_sql(SinkSettings(sink_retention_days_plate_reads=7, sink_retention_days_audit_log=0))
    assert "${" not in sql
    assert "ENGINE = ReplacingMergeTree(version)" in sql
    assert "non_replicated_deduplication_window = 1000" in sql
    reads = sql[sql.index("`db1`.plate_reads") : sql.index("`db1`.camera_events")]
    assert "TTL toDateTime(inserted_at) + INTERVAL 7 DAY" in reads
    audit = sql[sql.index("`db1`.audit_log") : sql.index("`db1`.audit_log") + 2000]
    assert "TTL" not in audit.split(";")[0]  # 0 days keeps rows forever


def test_replicated_render() -> None:
    sql = _all_sql(SinkSettings(sink_engine="replicated"))
    assert (
        "ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}', version)"
        in sql
    )
    assert (
        "ReplicatedAggregatingMergeTree('/clickhouse/tables/{shard}/{database}/{table}', '{replica}')"
        in sql
    )
    assert "non_replicated_deduplication_window" not in sql


def test_every_projected_table_keeps_the_event_index_and_is_keyed_by_its_id() -> None:
    sql = _all_sql(SinkSettings())
    for t in TABLES:
        body = sql[sql.index(f"`db1`.{t.table}\n") :]
        body = body[: body.index(";")]
        for col in (
            "topic LowCardinality(String)",
            "partition UInt16",
            "offset UInt64",
            "DateTime64(3, 'UTC')",
        ):
            assert col in body, (t.table, col)
        assert "PARTITION BY toYYYYMM(ts)" in body
        order_by = body[body.index("ORDER BY") :].splitlines()[0]
        if t.table != "camera_status":  # status rows have no id: keyed by camera, time and state
            assert order_by.rstrip(")").endswith(t.id_field) or t.table == "alert_deliveries", (
                order_by
            )


def test_split_statements_and_bad_identifier() -> None:
    assert m.split_statements("-- c\nSELECT 1;\nSELECT 2;\n") == ["SELECT 1", "SELECT 2"]
    with pytest.raises(SinkError):
        m.render("SELECT 1", SinkSettings(), database="x; DROP")


@pytest.mark.integration
def test_migrate_is_idempotent_and_recorded(settings) -> None:
    s = SinkSettings(**settings.model_dump())
    client = make_clickhouse(s, database="default")
    first = m.migrate(client, s)
    assert [mig.version for mig in first] == [mig.version for mig in m.load_migrations()]
    assert m.migrate(client, s) == []
    assert all(row["state"] == "applied" for row in m.status(client, s))
    tables = {r[0] for r in client.query(f"SHOW TABLES FROM `{s.clickhouse_database}`").result_rows}
    assert {t.table for t in TABLES} | {
        "camera_hourly_counts",
        "plate_first_last_seen",
        "plate_events_latest",
        "schema_migrations",
    } <= tables
    engine = client.query(
        "SELECT engine_full FROM system.tables WHERE database = {d:String} AND name = 'plate_events'",
        parameters={"d": s.clickhouse_database},
    ).result_rows[0][0]
    assert "ReplacingMergeTree(version)" in engine and "TTL" in engine
    m.drop_projections(client, s.clickhouse_database)
    assert client.query(f"SHOW TABLES FROM `{s.clickhouse_database}`").result_rows == []
