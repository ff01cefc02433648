"""Compacting the search tables into one part each, as a scheduled job (`platestream db compact`).

A search looks up key ranges (a plate, a set of variants, a set of grams) and ClickHouse reads a
range in every active part of the table: the merges left `plate_event_index` at 10M bench events
in 5 parts, so an exact search read 5 granules, a suffix wildcard's page of 512 plates 2,560
ranges. Merged into one part each (`OPTIMIZE TABLE ... FINAL`, which also folds the copies a
redelivery left), run_search at 10M bench events went, p50 / p99 ms: exact 10.1 / 14.3 -> 7.5 /
14.2, suffix wildcard 53.5 / 71.8 -> 32.7 / 41.4, one-edit fuzzy 38.1 / 58.6 -> 28.3 / 63.9,
two-edit fuzzy 55.5 / 74.4 -> 41.3 / 66.8 (docs/api.md, "Search tables in one part").

What comes in after a compaction lands in new parts, which the normal merges keep few and small
until the next run: schedule it daily, off-peak (docs/deploy.md, 3.6).
It rewrites each table whole, so it costs about what inserting the table again costs;
docs/scaling.md says what that means at 1B events.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from services.sink.migrations import check_identifier

# The tables a search reads by key (services/api/plate_index.py, services/api/search_sql.py).
SEARCH_TABLES = (
    "plate_event_index",
    "plate_dictionary",
    "plate_dictionary_reversed",
    "plate_grams",
    "plate_variants",
    "plate_event_superseded",
)


@dataclass(frozen=True)
class Compacted:
    """One table's parts before and after, and the seconds the merge took."""

    table: str
    parts_before: int
    parts_after: int
    seconds: float


def active_parts(client: Any, database: str, table: str) -> int:
    return int(
        client.command(
            "SELECT count() FROM system.parts "
            "WHERE database = {db:String} AND table = {t:String} AND active",
            parameters={"db": database, "t": table},
        )
    )


def compact(client: Any, database: str, tables: tuple[str, ...] = SEARCH_TABLES) -> list[Compacted]:
    """Merge each of ``tables`` into one part; a table already in one part is left as it is. The
    client needs a receive timeout as long as the largest merge. Reports nothing: the callers
    (`platestream db compact`, `bench api --compact`) print what it returns."""
    db = check_identifier(database)
    done = []
    for table in tables:
        check_identifier(table)
        before = active_parts(client, db, table)
        started = time.perf_counter()
        if before > 1:
            client.command(f"OPTIMIZE TABLE `{db}`.`{table}` FINAL")
        took = time.perf_counter() - started
        after = active_parts(client, db, table)
        done.append(Compacted(table, before, after, took))
    return done
