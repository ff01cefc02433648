"""Search queries carry server-side limits that the ClickHouse endpoint enforces per query."""

from __future__ import annotations

from typing import Any

import pytest
from clickhouse_connect.driver.exceptions import DatabaseError

from platestream.clickhouse import make_clickhouse
from services.api.plate_index import SEARCH_SETTINGS

pytestmark = pytest.mark.integration


def test_a_search_reading_too_many_rows_is_stopped_and_the_next_one_runs(settings: Any) -> None:
    client = make_clickhouse(settings, autogenerate_session_id=False)
    too_many = SEARCH_SETTINGS["max_rows_to_read"] + 1
    with pytest.raises(DatabaseError, match="TOO_MANY_ROWS"):
        client.query(f"SELECT sum(number) FROM numbers({too_many})", settings=SEARCH_SETTINGS)
    # the limit applied to that query only: the same client without it reads on
    assert client.command("SELECT count() FROM numbers(1000)") == 1000


def test_a_search_running_too_long_is_stopped(settings: Any) -> None:
    client = make_clickhouse(settings, autogenerate_session_id=False)
    limits = {**SEARCH_SETTINGS, "max_execution_time": 1}
    with pytest.raises(DatabaseError, match="TIMEOUT_EXCEEDED"):
        client.query(
            "SELECT sleepEachRow(0.4) FROM numbers(8)", settings={**limits, "max_block_size": 1}
        )
