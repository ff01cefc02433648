"""`platestream db compact`: each search table merged into one part, copies folded, answers kept."""

from __future__ import annotations

from typing import Any

import pytest
from typer.testing import CliRunner

from platestream.clickhouse import make_clickhouse
from services.api.search import run_search
from services.api.search_sql import EventQuery
from services.sink import migrations as m
from services.sink.compaction import SEARCH_TABLES, active_parts, compact
from services.sink.db_cli import app
from services.sink.settings import SinkSettings
from tests.sink.test_search_migration import INSERT


def _answers(client: Any) -> list[list[str]]:
    queries = (
        EventQuery(plate="ABC1234"),
        EventQuery(plate="A*4", mode="wildcard"),
        EventQuery(plate="A8C1Z34", mode="fuzzy", max_distance=2, sort="score"),
    )
    return [[e["event_id"] for e in run_search(client, q, limit=100)[0]] for q in queries]


@pytest.mark.integration
def test_compact_leaves_one_part_per_search_table_and_the_same_answers(
    settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = SinkSettings(**settings.model_dump())
    m.migrate(make_clickhouse(sink, database="default"), sink)
    client = make_clickhouse(settings)
    db = settings.clickhouse_database
    for table in SEARCH_TABLES:
        client.command(f"SYSTEM STOP MERGES {table}")
    for prefix in ("e", "f", "g", "e"):  # three batches and a copy of the first (a redelivery)
        client.command(INSERT.replace("concat('e'", f"concat('{prefix}'"))
    client.command(INSERT.replace("0, 'cam-1'", "1, 'cam-1'").replace("numbers(30)", "numbers(2)"))
    assert active_parts(client, db, "plate_event_index") == 5
    before = _answers(client)
    assert all(before), before
    for table in SEARCH_TABLES:
        client.command(f"SYSTEM START MERGES {table}")

    done = {c.table: c for c in compact(client, db)}
    assert set(done) == set(SEARCH_TABLES)
    assert all(c.parts_after == 1 for c in done.values()), done
    # the copy is folded: 90 passages and 2 corrected versions, no row twice
    assert int(client.command("SELECT count() FROM plate_event_index")) == 92
    assert _answers(client) == before

    # the command: a second run finds every table in one part and merges nothing
    for name in ("url", "user", "password", "database"):
        monkeypatch.setenv(
            f"PLATESTREAM_CLICKHOUSE_{name.upper()}", str(getattr(settings, f"clickhouse_{name}"))
        )
    result = CliRunner().invoke(app, ["compact"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == len(SEARCH_TABLES)
    assert all(line.split()[1:4] == ["1", "->", "1"] for line in lines), lines
