"""Getting a fault-suite run ready: the stages' environment, the watchlist, readiness end to end.

The ingest stage takes pushes from the load's devices (one camera each) and the notifier sends to
the local webhook receiver; a fraction of the load's plates are on a watchlist; a canary push on
that watchlist must be stored (and alerted, with the notifier running) before the load starts.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from platestream import topics as catalogue
from platestream.bench import harness
from platestream.bench.load import plate_for
from platestream.chaos.checks import wait_stored
from platestream.chaos.load import DEVICE_SECRET, IngestLoad, WebhookReceiver
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms


def stage_env(
    ingest_port: int, devices: list[tuple[str, str]], webhook_url: str
) -> dict[str, dict[str, str]]:
    """Environment of the stages: the ingest's port and devices, the notifier's webhook route."""
    return {
        "ingest": {
            "PLATESTREAM_INGEST_PORT": str(ingest_port),
            "PLATESTREAM_INGEST_DEVICES": json.dumps(
                {
                    d: {
                        "camera_id": c,
                        "secret": f"{DEVICE_SECRET}-{d}",
                        "rate_per_s": 10_000,
                        "burst": 10_000,
                    }
                    for d, c in devices
                }
            ),
            "PLATESTREAM_INGEST_API_KEYS": "false",
        },
        "notify": {
            "PLATESTREAM_NOTIFY_ROUTES": json.dumps(
                [{"channel": "webhook", "target": webhook_url}]
            ),
            "PLATESTREAM_NOTIFY_MAX_ATTEMPTS": "20",
            "PLATESTREAM_NOTIFY_BACKOFF_BASE_S": "0.1",
            "PLATESTREAM_NOTIFY_BACKOFF_MAX_S": "2",
        },
    }


def write_watchlist(settings: CommonSettings, run_id: str, hit_every: int, max_events: int) -> None:
    from platestream.bench.prepare import produce_all
    from platestream.serde import AvroSerde

    serde = AvroSerde(settings=settings)
    topic = settings.topic(catalogue.BOLO.name)
    records = []
    for i in [-1, *range(0, max_events, hit_every)]:
        entry_id = f"{run_id}-bolo-{i}"
        rec = {
            "entry_id": entry_id,
            "list_id": f"{run_id}-list",
            "list_kind": "bolo",
            "pattern": plate_for(i, salt=7),
            "match_type": "exact",
            "max_distance": 0,
            "reason": "chaos",
            "priority": "high",
            "camera_ids": [],
            "zones": [],
            "valid_from": None,
            "valid_until": None,
            "owner": "chaos",
            "updated_at": now_ms(),
        }
        records.append(
            (entry_id.encode(), serde.encode("bolo_entry", rec, subject=f"{topic}-value"))
        )
    produce_all(settings, topic, records)


def wait_ready(
    settings: CommonSettings,
    client: Callable[[], Any],
    stages: harness.Stages,
    load: IngestLoad,
    webhook: WebhookReceiver,
    port: int,
) -> tuple[set[str], set[str]]:
    """Readiness end to end: a canary push on the watchlist must be stored and alerted.

    Returns the canary's event ids and the alert ids the webhook accepted for it.
    """
    import httpx

    if not harness.wait_http(f"http://127.0.0.1:{port}/health", 90):
        raise RuntimeError(f"ingest did not answer:\n{stages.log_tail('ingest')}")
    body = {**load.payload(-1), "confidence": 0.97}
    device_id = body["device_id"]
    resp = httpx.post(
        load.url, json=body, headers={"X-API-Key": f"{DEVICE_SECRET}-{device_id}"}, timeout=30
    )
    if resp.status_code != 200:
        raise RuntimeError(f"canary push refused: {resp.status_code} {resp.text[:300]}")
    canary_ids = set(resp.json()["event_ids"])
    canary_alerts: set[str] = set()
    if wait_stored(client, settings.clickhouse_database, list(canary_ids), 90) is None:
        raise RuntimeError(
            f"the canary event did not reach ClickHouse in 90 s:\n{stages.log_tail('sink')}"
        )
    if "notify" in stages.names:
        deadline = time.monotonic() + 90
        while not webhook.accepted and time.monotonic() < deadline:
            time.sleep(0.3)
        if not webhook.accepted:
            raise RuntimeError(
                "the canary alert did not reach the webhook in 90 s:\n"
                f"{stages.log_tail('enrich')}\n{stages.log_tail('notify')}"
            )
        canary_alerts = set(webhook.accepted)
    return canary_ids, canary_alerts
