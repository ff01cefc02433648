"""Migrations 003_search and 010_search_granules: the search tables are projections like the others,
dropped and refilled by a rebuild; 010 rebuilds them with fine granules and keeps the superseded
versions of corrected events, which 014 also holds in a Set; 012, 013 and 015 fill what they add
for rows stored before them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from platestream.clickhouse import make_clickhouse
from platestream.plates import skeleton
from services.api.plate_index import fuzzy_sql, gapped_variants
from services.sink import migrations as m
from services.sink.settings import SinkSettings

SEARCH_TABLES = (
    "plate_dictionary",
    "plate_variants",
    "plate_grams",
    "plate_event_index",
    "plate_event_superseded",
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


def test_010_rebuilds_the_search_tables_with_fine_granules() -> None:
    sql = m.render(m.load_migrations()[9].sql, SinkSettings(), database="db1")
    assert m.load_migrations()[9].name == "search_granules"
    assert sql.count(f"index_granularity = {m.FINE_GRANULES}") == 5  # 4 search tables + superseded
    assert "index_granularity = 8192" not in sql
    for table in SEARCH_TABLES:
        assert f"CREATE TABLE IF NOT EXISTS `db1`.{table}" in sql


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
    assert filled["plate_event_index"] == 30
    assert filled["plate_event_superseded"] == 0  # no corrections yet
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
    # a correction (version 2 of e1) supersedes versions 0 and 1 of that event only
    client.command(INSERT.replace("0, 'cam-1'", "2, 'cam-1'").replace("numbers(30)", "numbers(2)"))
    superseded = client.query(
        "SELECT event_id, version FROM plate_event_superseded FINAL ORDER BY event_id, version"
    ).result_rows
    assert [tuple(r) for r in superseded] == [("e0", 0), ("e0", 1), ("e1", 0), ("e1", 1)]
    # and the set the search pages check (014) holds the same, and no other version
    assert _in_set(client, [("e0", 0), ("e0", 1), ("e0", 2), ("e1", 1), ("e2", 0)]) == [
        True,
        True,
        False,
        True,
        False,
    ]


def _in_set(client: Any, pairs: list[tuple[str, int]]) -> list[bool]:
    """Which (event_id, version) pairs plate_event_superseded_set holds (a Set cannot be read)."""
    return [
        bool(
            client.command(
                "SELECT ({e:String}, {v:UInt32}) IN plate_event_superseded_set",
                parameters={"e": e, "v": v},
            )
        )
        for e, v in pairs
    ]


def _database_before(version: int, settings: Any) -> tuple[Any, SinkSettings, Any]:
    """(admin client, sink settings, client) of the test's database as the migrations before
    ``version`` left it, recorded as applied."""
    sink = SinkSettings(**settings.model_dump())
    admin = make_clickhouse(sink, database="default")
    db = settings.clickhouse_database
    m.ensure_database(admin, db)
    for mig in m.load_migrations():
        if mig.version < version:
            for stmt in m.split_statements(m.render(mig.sql, sink, database=db)):
                admin.command(stmt)
            admin.command(
                f"INSERT INTO `{db}`.schema_migrations (version, name, checksum) "
                f"VALUES ({mig.version}, '{mig.name}', '{mig.checksum}')"
            )
    return admin, sink, make_clickhouse(settings)


@pytest.mark.integration
def test_012_fills_the_result_column_and_the_reversed_dictionary_of_rows_stored_before(
    settings: Any,
) -> None:
    admin, sink, client = _database_before(12, settings)
    client.command(INSERT)  # passages stored before the migration
    assert [mig.version for mig in m.migrate(admin, sink)] == [12, 13, 14, 15, 16]
    client.command(INSERT.replace("concat('e'", "concat('f'"))  # and passages stored after it
    results = client.query("SELECT event_id, result FROM plate_event_index").result_rows
    assert len(results) == 60
    for event_id, result in results:
        fields = json.loads(result)
        assert fields[0] == "cam-1" and fields[-3:] == ["test", None, None], (event_id, fields)
    reversed_ = client.query(
        "SELECT plate_reversed, any(plate), min(first_seen), max(last_seen) "
        "FROM plate_dictionary_reversed GROUP BY plate_reversed ORDER BY plate_reversed"
    ).result_rows
    assert [(r[0], r[1]) for r in reversed_] == sorted(
        (p[::-1], p) for p in ("ABC1234", "A8C1234", "粤B12345")
    )
    dictionary = client.query(
        "SELECT plate, min(first_seen), max(last_seen) FROM plate_dictionary GROUP BY plate"
    ).result_rows
    assert sorted((r[1], r[2], r[3]) for r in reversed_) == sorted(tuple(r) for r in dictionary)


@pytest.mark.integration
def test_013_rebuilds_the_variants_with_where_their_deletions_were(settings: Any) -> None:
    admin, sink, client = _database_before(13, settings)
    client.command(INSERT)  # passages stored before the migration
    assert [mig.version for mig in m.migrate(admin, sink)] == [13, 14, 15, 16]
    client.command(INSERT.replace("concat('e'", "concat('f'"))  # and passages stored after it
    rows = client.query(
        "SELECT DISTINCT plate, variant, dels, gaps FROM plate_variants ORDER BY ALL"
    ).result_rows
    # what the API asks for (services/api/plate_index.py) is what the migration and its view store
    want = sorted(
        (plate, variant, dels, gaps)
        for plate in ("ABC1234", "A8C1234", "粤B12345")
        for variant, dels, gaps in gapped_variants(skeleton(plate), 2)
    )
    assert sorted(tuple(r) for r in rows) == want


@pytest.mark.integration
def test_014_sets_the_versions_superseded_before_and_after_it(settings: Any) -> None:
    admin, sink, client = _database_before(14, settings)
    client.command(INSERT)
    # a correction stored before the migration (version 1 of e0) ...
    client.command(INSERT.replace("0, 'cam-1'", "1, 'cam-1'").replace("numbers(30)", "numbers(1)"))
    assert [mig.version for mig in m.migrate(admin, sink)] == [14, 15, 16]
    # ... and one after it (version 3 of e5)
    five = INSERT.replace("0, 'cam-1'", "3, 'cam-1'").replace("numbers(30)", "numbers(5, 1)")
    client.command(five)
    pairs = [("e0", 0), ("e0", 1), ("e1", 0), ("e5", 0), ("e5", 2), ("e5", 3)]
    assert _in_set(client, pairs) == [True, False, False, True, True, False]
    page = client.query(
        "SELECT event_id, version FROM plate_event_index "
        "WHERE (event_id, version) IN plate_event_superseded_set ORDER BY ALL"
    ).result_rows
    assert [tuple(r) for r in page] == [("e0", 0), ("e5", 0)]


def test_014_is_a_merge_over_the_superseded_table_when_replicated() -> None:
    """A replica that fetched a part never ran the view: there the set reads the replicated table."""
    mig = m.load_migrations()[13]
    assert mig.version == 14
    local = m.render(mig.sql, SinkSettings(), database="db1")
    replicated = m.render(mig.sql, SinkSettings(sink_engine="replicated"), database="db1")
    assert "ENGINE = Set;" in local and "plate_event_superseded_set_mv" in local
    assert "INSERT INTO" in local
    assert "ENGINE = Merge(`db1`, '^plate_event_superseded$');" in replicated
    assert "MATERIALIZED VIEW" not in replicated and "INSERT" not in replicated
    assert len(m.split_statements(replicated)) == 1 and len(m.split_statements(local)) == 3


@pytest.mark.integration
def test_015_gives_each_plate_its_best_confidence_before_and_after_it(settings: Any) -> None:
    admin, sink, client = _database_before(15, settings)
    # passages stored before the migration, each plate read at 0.9 ...
    client.command(INSERT)
    assert [mig.version for mig in m.migrate(admin, sink)] == [15, 16]
    # ... a better read of ABC1234 after it, and a worse one of A8C1234
    better = INSERT.replace("concat('e'", "concat('f'").replace("0.9, t", "0.95, t")
    client.command(better.replace("numbers(30)", "numbers(1)"))
    worse = INSERT.replace("concat('e'", "concat('g'").replace("0.9, t", "0.5, t")
    client.command(worse.replace("numbers(30)", "numbers(1, 1)"))
    # every variant row of a plate holds its best, however the parts are merged
    for final in ("", " FINAL"):
        rows = client.query(
            f"SELECT plate, uniqExact(best_confidence), toInt64(round(max(best_confidence) * 1000)), "
            f"count() FROM plate_variants{final} GROUP BY plate ORDER BY plate"
        ).result_rows
        assert {r[0]: r[2] for r in rows} == {"A8C1234": 900, "ABC1234": 950, "粤B12345": 900}
        if final:
            assert [r[1] for r in rows] == [1, 1, 1]
            want = {
                p: len(gapped_variants(skeleton(p), 2)) for p in ("ABC1234", "A8C1234", "粤B12345")
            }
            assert {r[0]: r[3] for r in rows} == want  # one row per variant and gaps
    # what a fuzzy resolve reads (services/api/plate_index.py), rounded as a page rounds a row
    sql, params = fuzzy_sql("ABC1234", 1, times=False)
    got = client.query(sql, parameters=params).result_rows
    assert sorted((r[0], r[1], r[4]) for r in got) == [("A8C1234", 4, 900), ("ABC1234", 0, 950)]


def test_015_aggregates_the_variants_on_every_engine_with_the_ttl() -> None:
    mig = m.load_migrations()[14]
    assert (mig.version, mig.name) == (15, "variant_confidence")
    for engine, want in (
        ("local", "AggregatingMergeTree()"),
        ("replicated", "ReplicatedAggregatingMergeTree("),
    ):
        sql = m.render(
            mig.sql,
            SinkSettings(sink_engine=engine, sink_retention_days_plate_events=30),
            database="db1",
        )
        assert f"ENGINE = {want}" in sql, engine
        assert "TTL toDateTime(inserted_at) + INTERVAL 30 DAY" in sql
        assert "best_confidence SimpleAggregateFunction(max, Float32)" in sql
        assert len(m.split_statements(sql)) == 5  # drop view and table, table, view, backfill
