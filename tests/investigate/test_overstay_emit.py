"""Live overstays: `platestream investigate overstays --emit` writes each stay past the limit to
anpr.anomalies.v1 (kind overstay) with a deterministic id, so a second run repeats the same ids,
and notify delivers each overstay once to the routes that take overstays, and only to them.

Seeded on the local stack by the package's environment (conftest.py): at the car park, PRK0002
stayed 6 h and left, PRK0003 entered and is still inside; the limit here is 4 h.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from platestream import topics as catalogue
from platestream.errors import BadInputError
from services.investigate.overstays import overstay_id
from services.sink.rows import TABLES
from tests.enrich.helpers import TopicReader, stage_process
from tests.sink.helpers import env_for

from .dataset import DAY, events

HOUR = 3_600_000
LIMIT_S = 14_400

pytestmark = pytest.mark.integration


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


class _Hook(BaseHTTPRequestHandler):
    posts: ClassVar[list[tuple[str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        type(self).posts.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def run_job(inv_env: Any) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "platestream.cli", "investigate", "overstays", "--emit"]
    argv += ["--site", "park", "--limit-s", str(LIMIT_S), "--hours", "96"]
    argv += ["--until", iso(inv_env.base + 4 * DAY)]
    run = subprocess.run(
        argv, env=env_for(inv_env.settings), capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    return run


def _stored_overstay_columns(inv_env: Any, table: Any, records: list[dict]) -> list[tuple]:
    """The records written by the sink's writer into a database of their own (the package's
    anomalies table is counted by other tests), read back from limit_s and exit_ts."""
    from platestream.clickhouse import make_clickhouse
    from services.investigate.bench_queries import _without_views
    from services.sink.rows import Source
    from services.sink.writer import TableWriter

    db = "inv_overstay_columns"
    s = inv_env.settings.model_copy(update={"clickhouse_database": db})
    _without_views(s)
    client = make_clickhouse(s, autogenerate_session_id=False)
    try:
        writer = TableWriter(client=client, database=db, mapping=table)
        writer.insert(records, [Source("t", 0, k) for k in range(len(records))])
        rows = client.query(
            "SELECT plate, limit_s, toUnixTimestamp64Milli(exit_ts) FROM anomalies FINAL"
            " WHERE kind = 'overstay' ORDER BY plate"
        ).result_rows
        return [tuple(r) for r in rows]
    finally:
        client.command(f"DROP DATABASE IF EXISTS {db}")


def test_overstays_are_emitted_once_per_stay_and_delivered_by_notify(inv_env, tmp_path) -> None:
    base = inv_env.base
    by_ts = {(e["plate"], e["ts"]): e for e in events(base)}
    park = base + 9 * HOUR
    first_run = run_job(inv_env)
    assert [json.loads(x)["plate"] for x in first_run.stdout.splitlines()] == [
        "PRK0003",
        "PRK0002",
    ]
    run_job(inv_env)  # the next scheduled run sees the same stays
    anomalies = TopicReader(inv_env.settings, catalogue.ANOMALIES.name)
    try:
        got = anomalies.wait_for(
            lambda r: len([a for a in r if a["kind"] == "overstay"]) >= 4, timeout=30
        )
        anomalies.settle(1.0)
    finally:
        anomalies.close()
    overstays = [a for a in got if a["kind"] == "overstay"]
    assert len(overstays) == 4, overstays
    ids = {a["anomaly_id"] for a in overstays}
    entry2, entry3 = park, park + 2 * HOUR
    assert ids == {overstay_id("park", "PRK0002", entry2), overstay_id("park", "PRK0003", entry3)}
    for a in overstays:  # both runs wrote the same record but for the emission time
        twin = next(b for b in overstays if b["anomaly_id"] == a["anomaly_id"] and b is not a)
        assert {**a, "emitted_at": 0} == {**twin, "emitted_at": 0}
    left = next(a for a in overstays if a["plate"] == "PRK0002")
    assert left["first"]["event_id"] == by_ts[("PRK0002", entry2)]["event_id"]
    assert left["second"]["event_id"] == by_ts[("PRK0002", park + 6 * HOUR)]["event_id"]
    assert (left["exit_ts"], left["seconds_apart"], left["limit_s"]) == (
        park + 6 * HOUR,
        21_600.0,
        LIMIT_S,
    )
    assert left["ts"] == entry2 + LIMIT_S * 1000 and left["camera_id"] == "gate"
    inside = next(a for a in overstays if a["plate"] == "PRK0003")
    assert inside["exit_ts"] is None and inside["second"] == inside["first"]
    assert inside["first"]["event_id"] == by_ts[("PRK0003", entry3)]["event_id"]
    assert "still inside" in inside["reason"] and inside["first"]["lat"] == pytest.approx(51.51)
    # the sink's row mapping of anpr.anomalies.v1 takes them, limit and exit in their own columns
    # (migration 008), and ClickHouse stores them there
    anomaly_table = next(t for t in TABLES if t.table == "anomalies")
    for a in (left, inside):
        anomaly_table.validate(a)
    cols = anomaly_table.build([left, inside])
    assert cols["kind"] == ["overstay", "overstay"]
    assert cols["second_ts"] == [park + 6 * HOUR, entry3]
    assert cols["ts"] == [entry2 + LIMIT_S * 1000, entry3 + LIMIT_S * 1000]
    assert cols["limit_s"] == [LIMIT_S, LIMIT_S]
    assert cols["exit_ts"] == [park + 6 * HOUR, None]
    with pytest.raises(BadInputError, match="exit_ts"):
        anomaly_table.validate({**left, "exit_ts": 10**15})
    stored = _stored_overstay_columns(inv_env, anomaly_table, [left, inside])
    assert stored == [
        ("PRK0002", float(LIMIT_S), park + 6 * HOUR),
        ("PRK0003", float(LIMIT_S), None),
    ]

    # the anomalies endpoint filters on the new kind (this package's sink has stopped: no rows)
    resp = inv_env.get(
        "/api/v1/investigations/anomalies",
        kind="overstay",
        since=iso(base),
        until=iso(base + 4 * DAY),
    )
    assert resp.status_code == 200, resp.text

    # notify: a route that takes overstays gets each once; a clone-only route gets none of them
    _Hook.posts = []
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{hook.server_address[1]}"
    routes = [
        {"channel": "webhook", "target": f"{url}/overstays", "kinds": ["overstay"]},
        {"channel": "webhook", "target": f"{url}/clones", "kinds": ["clone"]},
    ]
    env = {
        **env_for(inv_env.settings),
        "PLATESTREAM_NOTIFY_ROUTES": json.dumps(routes),
        "PLATESTREAM_NOTIFY_FOLLOW_ROUTES": "false",
        "PLATESTREAM_NOTIFY_WEB_PORT": "0",
        "PLATESTREAM_NOTIFY_METRICS_PORT": "0",
        "PLATESTREAM_LOG_LEVEL": "WARNING",
    }
    deliveries = TopicReader(inv_env.settings, catalogue.ALERT_DELIVERIES.name)
    try:
        with stage_process("notify", env, Path(tmp_path) / "notify.log"):
            # two overstays, and the package's one clone on the anomalies topic
            deliveries.wait_for(lambda r: len(r) >= 3, timeout=90)
            deliveries.settle(2.0)
    finally:
        deliveries.close()
        hook.shutdown()
    paths = sorted(p[0] for p in _Hook.posts)
    assert paths == ["/clones", "/overstays", "/overstays"], paths
    bodies = [json.loads(p[2]) for p in _Hook.posts if p[0] == "/overstays"]
    assert {b["type"] for b in bodies} == {"anomaly.overstay"}
    assert {b["anomaly_id"] for b in bodies} == ids
    assert {p[1]["webhook-id"] for p in _Hook.posts if p[0] == "/overstays"} == ids
    assert all(d["status"] == "delivered" for d in deliveries.records)
