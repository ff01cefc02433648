"""Retention by purpose (issue 17 item 1) on a migrated chDB database, with a controlled clock.

Rows are written with old timestamps, the TTL is forced (OPTIMIZE ... FINAL), and what is left
must be what the policy keeps: passages with no hit go after the short days, hits, watchlisted
and corrected passages after the long days. The retention report evaluates every rule with its
WHERE condition, so it flags the overdue no-hit row before the merge and nothing after.
"""

from __future__ import annotations

from typing import Any

import pytest

from platestream.clickhouse import make_clickhouse
from platestream.privacy.retention import DAY_MS, clickhouse_reports, ttl_rules
from platestream.timeutil import now_ms
from services.sink import migrations as m
from services.sink.settings import SinkSettings
from tests.sink.helpers import sink_settings

SHORT, LONG = 20, 100
INSERT = """
INSERT INTO {db}.plate_events (event_id, version, camera_id, ts, plate, confidence, first_seen,
    last_seen, read_count, variants, read_ids, best_read_id, image_keys, image_kinds, source,
    access_status, watchlist_hits, correction_id, emitted_at, topic, partition, offset)
VALUES ('{eid}', 0, 'cam-1', fromUnixTimestamp64Milli({t}), '{plate}', 0.9,
    fromUnixTimestamp64Milli({t}), fromUnixTimestamp64Milli({t}), 1, [], [], '', [], [], 'test',
    '{status}', {hits}, {corr}, fromUnixTimestamp64Milli({t}), 't', 0, {off})
"""
# plate -> (age in days, access_status, watchlist_hits, correction_id), and whether it stays
ROWS = {
    "NOHIT30": (30, "unknown", "[]", "NULL", False),  # past the short policy: gone
    "NOHIT5": (5, "allowed", "[]", "NULL", True),  # young: kept
    "HIT30": (30, "unknown", "['bolo-1']", "NULL", True),  # a watchlist hit: long policy
    "LISTED30": (30, "watchlisted", "[]", "NULL", True),  # watchlisted: long policy
    "CORR30": (30, "unknown", "[]", "'corr-1'", True),  # corrected in review: long policy
    "HIT150": (150, "unknown", "['bolo-1']", "NULL", False),  # past the long policy: gone
}


def _s(ms: int) -> int:
    """A time as the TTL sees it: toDateTime keeps whole seconds."""
    return ms // 1000 * 1000


def test_the_purpose_rule_renders_both_ttls_and_only_the_long_one_when_off() -> None:
    sql = m.render(m.load_migrations()[6].sql, SinkSettings(), database="db1")
    assert (
        "ALTER TABLE `db1`.plate_events MODIFY TTL toDateTime(ts) + INTERVAL 365 DAY, "
        "toDateTime(ts) + INTERVAL 90 DAY DELETE WHERE empty(watchlist_hits)"
    ) in sql
    off = m.render(
        m.load_migrations()[6].sql,
        SinkSettings(sink_retention_days_plate_events_no_hit=0),
        database="db1",
    )
    assert "DELETE WHERE" not in off and "INTERVAL 365 DAY" in off
    longer = SinkSettings(sink_retention_days_plate_events_no_hit=400)  # not shorter: no rule
    assert "WHERE" not in m.render(m.load_migrations()[6].sql, longer, database="db1")


def test_ttl_rules_split_every_rule_with_its_condition() -> None:
    create = (
        "CREATE TABLE t (ts DateTime) ENGINE = MergeTree ORDER BY ts TTL toDateTime(ts) + "
        "toIntervalDay(365), toDateTime(ts) + toIntervalDay(90) WHERE empty(h) AND (a != 'x') "
        "SETTINGS index_granularity = 8192"
    )
    assert ttl_rules(create) == [
        ("toDateTime(ts) + toIntervalDay(365)", None),
        ("toDateTime(ts) + toIntervalDay(90)", "empty(h) AND (a != 'x')"),
    ]


@pytest.mark.integration
def test_rows_past_their_purpose_policy_are_gone_and_the_report_agrees(settings: Any) -> None:
    # Rows already past a TTL are dropped when they are inserted, so the old rows go in first,
    # under no retention, and the policy is then applied to them as a deployment's existing data.
    unbounded = sink_settings(
        settings, sink_retention_days_plate_events=0, sink_retention_days_plate_events_no_hit=0
    )
    admin = make_clickhouse(unbounded, database="default")
    m.migrate(admin, unbounded)
    db = f"`{unbounded.clickhouse_database}`"
    now = now_ms()

    def insert(plate: str, age: int, status: str, hits: str, corr: str, off: int) -> None:
        admin.command(
            INSERT.format(
                db=db,
                eid=f"e-{plate}",
                t=now - age * DAY_MS,
                plate=plate,
                status=status,
                hits=hits,
                corr=corr,
                off=off,
            )
        )

    for off, (plate, (age, status, hits, corr, _kept)) in enumerate(ROWS.items()):
        insert(plate, age, status, hits, corr, off)
    policy = sink_settings(
        settings,
        sink_retention_days_plate_events=LONG,
        sink_retention_days_plate_events_no_hit=SHORT,
    )
    rendered = m.render(m.load_migrations()[6].sql, policy, database=policy.clickhouse_database)
    for stmt in m.split_statements(rendered):  # the TTL set, not yet applied to existing parts
        admin.command(stmt, settings={"materialize_ttl_after_modify": 0})
    client = make_clickhouse(policy)
    before = {r.name: r for r in clickhouse_reports(client, now=now)}
    events = before["plate_events"]
    assert events.policy and "WHERE" in events.policy and f"toIntervalDay({SHORT})" in events.policy
    assert events.flag == "past policy" and events.records == len(ROWS)
    # the earliest expiry is HIT150's long one (now - 50 days); NOHIT30's short one is now - 10
    assert events.expires_ms == _s(now - 150 * DAY_MS) + LONG * DAY_MS
    for table in ("plate_events", "plate_event_index"):
        admin.command(f"ALTER TABLE {db}.{table} MATERIALIZE TTL", settings={"mutations_sync": 2})
        admin.command(f"OPTIMIZE TABLE {db}.{table} FINAL")
    kept = {p for p, row in ROWS.items() if row[-1]}
    for table in ("plate_events", "plate_event_index"):
        plates = {r[0] for r in admin.query(f"SELECT plate FROM {db}.{table}").result_rows}
        assert plates == kept, (table, plates)
    after = {r.name: r for r in clickhouse_reports(client, now=now)}
    assert after["plate_events"].flag == "" and after["plate_events"].records == len(kept)
    # the next expiry is the young no-hit row's short policy, not a kept hit's long one
    assert after["plate_events"].expires_ms == _s(now - 5 * DAY_MS) + SHORT * DAY_MS
    assert after["plate_event_index"].expires_ms == _s(now - 5 * DAY_MS) + SHORT * DAY_MS
    # on a clock moved past it, the report flags the table again
    later = {r.name: r for r in clickhouse_reports(client, now=now + (SHORT - 4) * DAY_MS)}
    assert later["plate_events"].flag == "past policy"
    # with the policy in place, a row already past it is not stored at all; a hit of the same age is
    insert("LATE30", 30, "unknown", "[]", "NULL", 90)
    insert("LATEHIT30", 30, "unknown", "['bolo-2']", "NULL", 91)
    plates = {r[0] for r in admin.query(f"SELECT plate FROM {db}.plate_events").result_rows}
    assert plates == kept | {"LATEHIT30"}


def test_topics_that_carry_every_passage_keep_them_no_longer_than_the_no_hit_policy() -> None:
    from platestream import topics as catalogue

    no_hit_ms = SinkSettings().retention_days()["plate_events_no_hit"] * DAY_MS
    for topic in catalogue.NO_HIT_TOPICS:
        assert 0 < topic.retention_ms <= no_hit_ms, topic.name
        assert topic.config()["retention.ms"] == str(topic.retention_ms)
    long_ms = SinkSettings().retention_days()["plate_events"] * DAY_MS
    assert 0 < catalogue.ALERTS.retention_ms <= long_ms  # hits: the long policy
    carrying_plates = {t.name for t in catalogue.ALL if t.schema in {"plate_read", "plate_event"}}
    assert carrying_plates <= {t.name for t in catalogue.NO_HIT_TOPICS}
