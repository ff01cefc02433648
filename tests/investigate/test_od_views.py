"""Origin-destination and travel times from the refreshable views of migration 009: after a
refresh they hold what the live queries over plate_events answer, and the API reads them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.api import investigations as q
from services.sink.migrations import load_migrations, render
from services.sink.settings import SinkSettings

from .dataset import DAY

GAP = 1_800_000


def refresh(env) -> None:
    db = env.settings.clickhouse_database
    for view in q.VIEWS.values():
        env.clickhouse.command(f"SYSTEM REFRESH VIEW `{db}`.`{view}`")
        env.clickhouse.command(f"SYSTEM WAIT VIEW `{db}`.`{view}`")


def window(env) -> dict:
    return {"since": env.base, "until": env.base + 4 * DAY}


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def test_the_refresh_period_is_a_setting() -> None:
    [mig] = [m for m in load_migrations() if m.version == 9]
    sql = render(mig.sql, SinkSettings(sink_investigations_refresh_minutes=17), database="d")
    assert sql.count("REFRESH EVERY 17 MINUTE") == 2
    assert "${" not in sql
    # the views' gap is the one the API reads them for
    assert sql.count(f"> {q.VIEW_GAP_MS}, 1, 0") == 2


@pytest.mark.integration
def test_views_after_a_refresh_equal_the_live_queries(inv_env) -> None:
    refresh(inv_env)
    ch = inv_env.clickhouse
    for by in ("site", "zone"):
        live = q.od_matrix(ch, gap_ms=GAP, by=by, **window(inv_env))
        assert live, by
        assert q.od_from_view(ch, by=by, **window(inv_env)) == live, by
    live = q.travel_times(ch, gap_ms=GAP, **window(inv_env))
    assert [r["trips"] for r in live] == [6, 3]
    assert q.travel_times_from_view(ch, **window(inv_env)) == live
    assert q.travel_times_from_view(ch, min_trips=4, **window(inv_env)) == live[:1]
    # any range of hours merges: the first day alone
    day = {"since": inv_env.base, "until": inv_env.base + DAY}
    assert q.travel_times_from_view(ch, **day) == q.travel_times(ch, gap_ms=GAP, **day)
    assert q.od_from_view(ch, **day) == q.od_matrix(ch, gap_ms=GAP, **day)
    assert q.refreshed_at(ch, "od") is not None and q.refreshed_at(ch, "travel") is not None


@pytest.mark.integration
def test_endpoints_read_the_views_unless_asked_fresh_or_another_gap(inv_env) -> None:
    refresh(inv_env)
    span = {"since": iso(inv_env.base), "until": iso(inv_env.base + 4 * DAY)}
    for path, key in (("od", "cells"), ("travel-times", "pairs")):
        url = f"/api/v1/investigations/{path}"
        view = inv_env.get(url, **span).json()
        live = inv_env.get(url, fresh="true", **span).json()
        assert (view["source"], live["source"]) == ("view", "live"), path
        assert view["refreshed_at"] > 0 and live["refreshed_at"] is None
        assert view[key] == live[key] and view[key], path
        other = inv_env.get(url, gap_s=600, **span).json()
        assert other["source"] == "live", path
