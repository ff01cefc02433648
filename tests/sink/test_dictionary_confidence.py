"""Migration 016: the dictionaries keep each plate's best confidence, for rows stored before it
and after it, and what the searches resolve through them reads it (services/api/plate_index.py)."""

from __future__ import annotations

from typing import Any

import pytest

from services.api.plate_index import fuzzy_sql, wildcard_sql
from services.sink import migrations as m
from services.sink.settings import SinkSettings
from tests.sink.test_search_migration import INSERT, _database_before


@pytest.mark.integration
def test_016_gives_the_dictionaries_each_plates_best_confidence_before_and_after_it(
    settings: Any,
) -> None:
    admin, sink, client = _database_before(16, settings)
    client.command(INSERT)  # passages stored before the migration, each plate read at 0.9 ...
    before = client.query(
        "SELECT plate, min(first_seen), max(last_seen), uniqMerge(passages), "
        "arraySort(groupUniqArrayArray(cameras)) FROM plate_dictionary GROUP BY plate ORDER BY plate"
    ).result_rows
    assert [mig.version for mig in m.migrate(admin, sink)] == [16]
    # ... a better read of ABC1234 after it, and a worse one of A8C1234 (a plate's best is the
    # best of its events: 0.9 stays)
    better = INSERT.replace("concat('e'", "concat('f'").replace("0.9, t", "0.95, t")
    client.command(better.replace("numbers(30)", "numbers(1)"))
    worse = INSERT.replace("concat('e'", "concat('g'").replace("0.9, t", "0.5, t")
    client.command(worse.replace("numbers(30)", "numbers(1, 1)"))
    # a plate read only after it
    client.command(
        INSERT.replace("concat('e'", "concat('h'")
        .replace("['ABC1234', 'A8C1234', '粤B12345'][1 + number % 3]", "'XYZ9876'")
        .replace("0.9, t", "0.75, t")
        .replace("numbers(30)", "numbers(2)")
    )
    want = {"A8C1234": 900, "ABC1234": 950, "粤B12345": 900, "XYZ9876": 750}
    for table, key in (("plate_dictionary", "plate"), ("plate_dictionary_reversed", "any(plate)")):
        group = "plate" if table == "plate_dictionary" else "plate_reversed"
        for final in ("", " FINAL"):
            rows = client.query(
                f"SELECT {key}, toInt64(round(max(best_confidence) * 1000)) "
                f"FROM {table}{final} GROUP BY {group}"
            ).result_rows
            assert dict(rows) == want, (table, final)
    # the backfill added the confidence and changed no other aggregate of the rows before it
    after = client.query(
        "SELECT plate, min(first_seen), max(last_seen), uniqMerge(passages), "
        "arraySort(groupUniqArrayArray(cameras)) FROM plate_dictionary "
        "WHERE plate != 'XYZ9876' GROUP BY plate ORDER BY plate"
    ).result_rows
    assert [r[:3] + r[4:] for r in after] == [r[:3] + r[4:] for r in before]
    assert {r[0]: r[3] for r in after} == {"A8C1234": 11, "ABC1234": 11, "粤B12345": 10}
    # what a fuzzy resolve with times and a wildcard read: each plate's best, as a page rounds it
    sql, params = fuzzy_sql("ABC1234", 1, times=True)
    got = client.query(sql, parameters=params).result_rows
    assert sorted((r[0], r[1], r[4]) for r in got) == [("A8C1234", 4, 900), ("ABC1234", 0, 950)]
    for pattern, plates in (
        ("%1234", ("ABC1234", "A8C1234")),  # the reversed dictionary's key range
        ("%9876", ("XYZ9876",)),
        ("AB%", ("ABC1234",)),  # the dictionary's key range
        ("%C12%", ("ABC1234", "A8C1234")),  # the 3-grams, then the dictionary
    ):
        sql, params = wildcard_sql(pattern)
        got = client.query(sql, parameters=params).result_rows
        assert {r[0]: r[4] for r in got} == {p: want[p] for p in plates}, pattern


def test_016_adds_the_column_and_remakes_both_views_on_every_engine() -> None:
    mig = m.load_migrations()[15]
    assert (mig.version, mig.name) == (16, "dictionary_confidence")
    for engine in ("local", "replicated"):
        sql = m.render(mig.sql, SinkSettings(sink_engine=engine), database="db1")
        assert sql.count("ADD COLUMN IF NOT EXISTS best_confidence") == 2
        assert sql.count("max(confidence)") == 4  # two views, two backfills
        assert len(m.split_statements(sql)) == 8
