"""Diagnosis for a failed fault run: where lost events are, why hits raised no alert, lag left."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from platestream import topics as catalogue
from platestream.bench import harness
from platestream.chaos.checks import scan_topic
from platestream.chaos.faults import FaultResult
from platestream.chaos.load import Acked
from platestream.settings import CommonSettings


def lost_events(
    settings: CommonSettings,
    lost: list[str],
    acked: dict[str, Acked],
    faults: list[FaultResult],
    echo: Callable[[str], None],
) -> list[dict[str, Any]]:
    """For each lost id: when it was acknowledged, the fault nearest in time, and whether the
    broker still has it (then the sink dropped it) or not (then the broker or ingest did)."""
    where = scan_topic(settings, settings.topic(catalogue.CAMERA_EVENTS.name), set(lost[:50]))
    out = []
    for eid in lost[:50]:
        a = acked[eid]
        near = min(faults, key=lambda r: abs(r.injected_ms - a.acked_ms), default=None)
        out.append(
            {
                "event_id": eid,
                "index": a.index,
                "attempts": a.attempts,
                "in_topic_at": where.get(eid),
                "nearest_fault": near.fault if near else None,
                "acked_minus_fault_injected_ms": a.acked_ms - near.injected_ms if near else None,
                "acked_minus_fault_restored_ms": a.acked_ms - near.restored_ms if near else None,
            }
        )
    echo(f"lost events: {json.dumps(out, indent=1)}")
    return out


def hits_without_alert(
    settings: CommonSettings, client: Any, ids: list[str], echo: Callable[[str], None]
) -> list[dict[str, Any]]:
    """The passage (if any) of each hit that raised no alert, with what enrich decided."""
    db = settings.clickhouse_database
    rows = client.query(
        f"SELECT arrayJoin(read_ids) AS r, event_id, plate, confidence, read_count, access_status, watchlist_hits"
        f" FROM {db}.plate_events FINAL WHERE r IN %(ids)s",
        parameters={"ids": ids},
    ).result_rows
    by_id = {str(r[0]): r for r in rows}
    out = []
    for eid in ids:
        r = by_id.get(eid)
        out.append(
            {"camera_event_id": eid, "passage": None}
            if r is None
            else {
                "camera_event_id": eid,
                "passage": str(r[1]),
                "confidence": float(r[3]),
                "read_count": int(r[4]),
                "access_status": str(r[5]),
                "watchlist_hits": list(r[6]),
            }
        )
    echo(f"hits without an alert: {json.dumps(out, indent=1)}")
    return out


def missing_images(settings: CommonSettings, rows: list[tuple[Any, Any]]) -> tuple[int, int]:
    from minio.error import S3Error

    from platestream.s3 import make_s3

    s3 = make_s3(settings)
    missing = expected = 0
    for _, keys in rows:
        for key in keys:
            expected += 1
            try:
                s3.stat_object(settings.s3_bucket, key)
            except S3Error:
                missing += 1
    return missing, expected


def lag_left(settings: CommonSettings, stages: tuple[str, ...]) -> dict[str, int | None]:
    """Records each group still has to read, after a bounded wait for it to reach zero."""
    from platestream.bench.probes import LagSampler

    groups = {}
    for stage, group, topic in (
        ("enrich", "platestream-enrich", catalogue.CAMERA_EVENTS),
        ("sink-clickhouse", "platestream-sink-clickhouse", catalogue.CAMERA_EVENTS),
        ("notify", "platestream-notify", catalogue.ALERTS),
    ):
        if stage.split("-")[0] in stages:
            groups[stage] = (
                harness.group_id(settings, group),
                [settings.topic(topic.name)],
            )
    sampler = LagSampler(settings=settings, groups=groups, interval_s=1.0)
    sampler.start()
    deadline = time.monotonic() + 30
    last: dict[str, int | None] = {}
    while time.monotonic() < deadline:
        time.sleep(1.0)
        if sampler.series:
            last = {k: v for k, v in sampler.series[-1].items() if k != "t"}
            if all(v == 0 for v in last.values()):
                break
    sampler.stop()
    return last
