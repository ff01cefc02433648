"""`platestream retention report` (issue 17 item 1, the report): per topic, table and bucket, the
oldest record against its policy, on the real broker, ClickHouse and bucket, with a controlled
clock (``now``) for the records that are past their policy."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from platestream import topics as catalogue
from platestream.privacy.retention import (
    DAY_MS,
    clickhouse_reports,
    kafka_reports,
    s3_reports,
    ttl_expression,
)
from platestream.timeutil import now_ms

from .helpers import ApiEnv
from .test_privacy import _env_of


def test_ttl_expression_is_the_first_rule_without_its_action() -> None:
    create = (
        "CREATE TABLE db.t (`ts` DateTime64(3), `x` String) ENGINE = MergeTree ORDER BY ts "
        "TTL toDateTime(ts) + toIntervalDay(30) DELETE, toDateTime(ts) + toIntervalDay(7) "
        "TO VOLUME 'cold' SETTINGS index_granularity = 8192"
    )
    assert ttl_expression(create) == "toDateTime(ts) + toIntervalDay(30)"
    assert ttl_expression("CREATE TABLE t (a Int8) ENGINE = MergeTree ORDER BY a") is None
    nested = "CREATE TABLE t (ts DateTime) ENGINE = MergeTree ORDER BY ts TTL if(1, ts, ts) + toIntervalDay(1)"
    assert ttl_expression(nested) == "if(1, ts, ts) + toIntervalDay(1)"


@pytest.mark.integration
def test_clickhouse_tables_against_their_ttl(api_env: ApiEnv) -> None:
    ch = api_env.state.clickhouse
    # a table with no policy, made here (not a migration): the report must flag it
    ch.command(
        "CREATE TABLE IF NOT EXISTS retention_probe (ts DateTime64(3, 'UTC')) ENGINE = MergeTree ORDER BY ts"
    )
    ch.command("INSERT INTO retention_probe VALUES (now64(3) - INTERVAL 400 DAY)")
    try:
        now = clickhouse_reports(ch)
        later = clickhouse_reports(ch, now=now_ms() + 800 * DAY_MS)
    finally:
        ch.command("DROP TABLE IF EXISTS retention_probe")
    by_name = {r.name: r for r in now}
    events = by_name["plate_events"]
    # the TTL as the migrations wrote it (counted from ts or from inserted_at)
    assert events.policy and "toIntervalDay(" in events.policy
    assert "inserted_at" in events.policy or "ts" in events.policy
    # the environment is shared: other tests add events, so the report must agree with the table
    assert events.records >= len(api_env.seed.events)
    assert events.records == int(ch.command("SELECT count() FROM plate_events"))
    assert events.oldest_ms is not None and abs(events.oldest_ms - now_ms()) < 2 * 3600_000
    assert events.expires_ms is not None and events.expires_ms > now_ms()
    assert events.flag == ""
    probe = by_name["retention_probe"]
    assert probe.policy is None and probe.flag == "no policy"
    assert probe.oldest_ms is not None and now_ms() - probe.oldest_ms > 399 * DAY_MS
    for r in now:  # every store with no policy is flagged; none with a policy is, today
        assert r.flag.startswith("no policy") if r.policy is None else r.flag == "", r
    assert "plate_events_latest" not in by_name  # views store nothing
    # on a clock 800 days on, every table with a TTL and rows is past its policy
    for r in later:
        if r.policy is not None and r.records:
            assert r.flag == "past policy", r
    assert {r.name for r in later if r.flag == "past policy"} >= {"plate_events", "plate_reads"}


@pytest.mark.integration
def test_topics_and_bucket_against_their_policies(api_env: ApiEnv) -> None:
    settings = api_env.settings
    reports = {r.name: r for r in kafka_reports(settings)}
    events = reports[settings.topic(catalogue.PLATE_EVENTS.name)]
    assert events.policy == (
        f"retention.ms={catalogue.PLATE_EVENTS.retention_ms} "
        f"({catalogue.PLATE_EVENTS.retention_ms / DAY_MS:g} days)"
    )
    seeded = min(e["ts"] for e in api_env.seed.events)
    assert events.oldest_ms is not None and events.oldest_ms >= seeded - 3600_000
    assert events.flag == ""
    users = reports[settings.topic(catalogue.USERS.name)]
    assert users.policy is not None and users.policy.startswith("compacted")
    assert users.flag == "no policy"
    later = {
        r.name: r for r in kafka_reports(settings, now=events.oldest_ms + 2 * events_retention())
    }
    assert later[events.name].flag == "past policy"

    bucket = s3_reports(api_env.state.s3, settings.s3_bucket)
    assert sum(r.records or 0 for r in bucket) >= len(api_env.seed.events)  # the crops
    for r in bucket:
        assert (
            r.flag.startswith(("no policy", "lifecycle unreadable")) if r.policy is None else True
        )


def events_retention() -> int:
    return catalogue.PLATE_EVENTS.retention_ms


@pytest.mark.integration
def test_the_cli_reports_every_store(api_env: ApiEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    from platestream.cli import app
    from platestream.settings import CommonSettings

    common = CommonSettings(**api_env.settings.model_dump(include=set(CommonSettings.model_fields)))
    for key, value in _env_of(common).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(app, ["retention", "report", "--json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = [json.loads(x) for x in result.output.splitlines() if x]
    assert {r["store"] for r in rows} == {"kafka", "clickhouse", "s3"}
    assert any(r["name"] == "plate_events" and r["flag"] == "" for r in rows)
    text = CliRunner().invoke(app, ["retention", "report"])
    assert text.exit_code == 0 and "plate_events" in text.output
    strict = CliRunner().invoke(app, ["retention", "report", "--strict"])
    assert strict.exit_code == (1 if any(r["flag"] for r in rows) else 0)
