"""The fault-injection driver: steady load through the real ingest HTTP path while faults are injected.

A private local stack (broker on the S3 engine, so its log survives a restart) and the real stage
processes under a Supervisor take generic-format pushes with one small JPEG each; a fraction of
the plates are on a watchlist whose alerts go to a local webhook receiver that fails
intermittently. Every event id the ingest server answered 2xx for is recorded. Faults are
injected one after another (kill -9 of a stage, broker restart, ClickHouse or S3 store down for a
while); after each, recovery is the time until every event acknowledged so far is queryable.
At the end the ClickHouse, bucket and webhook contents are compared id by id with what was
acknowledged. Used by `tests/chaos/` (short form in `make test`, full form in `make chaos`).
"""

from __future__ import annotations

import base64
import io
import json
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from platestream import topics as catalogue
from platestream.bench import harness
from platestream.bench.load import plate_for
from platestream.bench.report import table
from platestream.settings import PROJECT_ROOT, CommonSettings
from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)

DEVICE_SECRET = "chaos-device-secret"


@dataclass(frozen=True)
class Fault:
    """One fault: ``kill`` a stage (-9), ``restart`` a stack component, or ``outage`` (stop, wait, start)."""

    kind: str
    target: str
    duration_s: float = 0.0

    @property
    def name(self) -> str:
        if self.kind == "kill":
            return f"kill -9 {self.target}"
        if self.kind == "restart":
            return f"restart {self.target}"
        return f"{self.target} down {self.duration_s:g} s"


def full_faults(
    outage_s: float = 30.0, stages: tuple[str, ...] = ("ingest", "enrich", "sink", "notify")
) -> list[Fault]:
    return [
        *(Fault("kill", s) for s in stages),
        Fault("restart", "broker"),
        Fault("outage", "clickhouse", outage_s),
        Fault("outage", "s3", outage_s),
    ]


def short_faults(
    outage_s: float = 5.0, stages: tuple[str, ...] = ("sink", "enrich", "ingest", "notify")
) -> list[Fault]:
    """For `make test`: every kind of fault of the full suite, with short outages."""
    return [
        *(Fault("kill", s) for s in stages),
        Fault("restart", "broker"),
        Fault("outage", "clickhouse", outage_s),
        Fault("outage", "s3", outage_s),
    ]


available_stages = harness.available_stages


# -- the webhook receiver ------------------------------------------------------------------------


class WebhookReceiver:
    """A local HTTP server that answers 500 to every ``fail_every``-th request and 200 otherwise.

    It records the alert ids of the requests it accepted (2xx), as a receiver that would act on
    them, and counts the refused ones.
    """

    def __init__(self, fail_every: int = 3) -> None:
        self.fail_every = fail_every
        self.accepted: dict[str, int] = {}
        self.accepted_at: dict[str, list[int]] = {}  # alert id -> wall-clock ms of each accept
        self.refused = 0
        self.requests = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                with receiver._lock:
                    receiver.requests += 1
                    fail = receiver.fail_every > 0 and receiver.requests % receiver.fail_every == 0
                    if fail:
                        receiver.refused += 1
                    else:
                        alert_id = receiver.alert_id(body)
                        receiver.accepted[alert_id] = receiver.accepted.get(alert_id, 0) + 1
                        receiver.accepted_at.setdefault(alert_id, []).append(now_ms())
                self.send_response(500 if fail else 200)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="webhook", daemon=True
        )

    @staticmethod
    def alert_id(body: bytes) -> str:
        try:
            doc = json.loads(body)
        except ValueError:
            return "<unreadable>"
        if isinstance(doc, dict):
            for node in (doc, doc.get("alert") or {}, doc.get("data") or {}):
                if isinstance(node, dict) and node.get("alert_id"):
                    return str(node["alert_id"])
        return "<no alert_id>"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/hook"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# -- the load ------------------------------------------------------------------------------------


def tiny_jpeg(seed: int = 0) -> bytes:
    from PIL import Image

    img = Image.new("RGB", (64, 32), ((seed * 37) % 256, 90, 160))
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=70)
    return buf.getvalue()


@dataclass
class Acked:
    index: int
    event_id: str
    plate: str
    hit: bool
    acked_ms: int
    attempts: int


class IngestLoad:
    """Pushes generic-format events at a steady rate from worker threads, retrying like a camera.

    A push that fails (5xx, timeout, connection refused) is retried with the same device event id
    (so the same event id) up to ``max_attempts`` times; only 2xx answers count as acknowledged.
    """

    def __init__(
        self,
        *,
        url: str,
        devices: list[tuple[str, str]],
        run_id: str,
        rate: float,
        hit_every: int,
        workers: int = 8,
        max_attempts: int = 60,
        timeout_s: float = 20.0,
    ) -> None:
        self.url = url
        self.devices = devices  # (device id, camera id)
        self.run_id = run_id
        self.rate = rate
        self.hit_every = hit_every
        self.workers = workers
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.image_b64 = base64.b64encode(tiny_jpeg()).decode()
        self.acked: dict[str, Acked] = {}
        self.gave_up: list[int] = []
        self.statuses: dict[str, int] = {}
        self.sent = 0
        self._queue: queue.Queue[int | None] = queue.Queue(maxsize=10_000)
        self._stop = threading.Event()  # no new pushes
        self._abort = threading.Event()  # no more retries either (the drain deadline passed)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def is_hit(self, i: int) -> bool:
        return self.hit_every > 0 and i % self.hit_every == 0

    def payload(self, i: int) -> dict[str, Any]:
        device_id, _ = self.devices[i % len(self.devices)]
        return {
            "device_id": device_id,
            "device_event_id": f"{self.run_id}-{i}",
            "ts": now_ms(),
            "plate": plate_for(i, salt=7),
            "confidence": 0.97 if self.is_hit(i) else 0.85,
            # One lane per event (mod a prime): passages never merge, so each hit is one alert.
            "lane": i % 997,
            "images": [{"kind": "scene", "data_base64": self.image_b64}],
        }

    def _count(self, key: str) -> None:
        with self._lock:
            self.statuses[key] = self.statuses.get(key, 0) + 1

    def _push(self, client: Any, i: int) -> None:
        import httpx

        device_id, _ = self.devices[i % len(self.devices)]
        body = self.payload(i)
        for attempt in range(1, self.max_attempts + 1):
            if self._abort.is_set():
                break
            try:
                resp = client.post(
                    self.url,
                    json=body,
                    headers={"X-API-Key": f"{DEVICE_SECRET}-{device_id}"},
                    timeout=self.timeout_s,
                )
                self._count(str(resp.status_code))
                if 200 <= resp.status_code < 300:
                    ids = resp.json().get("event_ids") or []
                    with self._lock:
                        for eid in ids:
                            self.acked[eid] = Acked(
                                i, eid, body["plate"], self.is_hit(i), now_ms(), attempt
                            )
                    return
                if 400 <= resp.status_code < 500 and resp.status_code != 429:
                    logger.error("push %d refused: %s %s", i, resp.status_code, resp.text[:200])
                    break
            except httpx.HTTPError as exc:
                self._count(type(exc).__name__)
            time.sleep(min(2.0, 0.2 * attempt))
        with self._lock:
            self.gave_up.append(i)

    def _worker(self) -> None:
        import httpx

        with httpx.Client() as client:
            while True:
                item = self._queue.get()
                if item is None:
                    return
                self._push(client, item)

    def start(self) -> IngestLoad:
        for k in range(self.workers):
            t = threading.Thread(target=self._worker, name=f"push-{k}", daemon=True)
            t.start()
            self._threads.append(t)
        threading.Thread(target=self._feed, name="push-feed", daemon=True).start()
        return self

    def _feed(self) -> None:
        t0 = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - t0) * self.rate)
            while self.sent < due and not self._stop.is_set():
                try:
                    self._queue.put(self.sent, timeout=0.5)
                except queue.Full:
                    continue  # workers are all retrying through an outage: the camera buffers
                self.sent += 1
            time.sleep(0.02)

    def stop(self, drain_timeout_s: float = 120.0) -> None:
        """Stop feeding; let queued and retrying pushes finish, as cameras would, for at most
        ``drain_timeout_s``; then abort the retries still going (they count as given up)."""
        self._stop.set()
        for _ in self._threads:
            self._queue.put(None)
        deadline = time.monotonic() + drain_timeout_s
        for t in self._threads:
            t.join(max(0.1, deadline - time.monotonic()))
        self._abort.set()
        for t in self._threads:
            t.join(5)

    def acked_snapshot(self) -> dict[str, Acked]:
        with self._lock:
            return dict(self.acked)


# -- checks against ClickHouse, the bucket and the webhook -----------------------------------------

STORED_SQL = "SELECT DISTINCT event_id FROM {db}.camera_events WHERE event_id IN %(ids)s"
# Camera event ids merged into a passage (plate event): device events are their passage's reads.
IN_PASSAGE_SQL = (
    "SELECT DISTINCT arrayJoin(read_ids) AS r FROM {db}.plate_events"
    " WHERE hasAny(read_ids, %(ids)s) AND r IN %(ids)s"
)
# Camera event ids whose passage raised an alert.
ALERTED_SQL = (
    "SELECT DISTINCT arrayJoin(read_ids) AS r FROM {db}.plate_events"
    " WHERE event_id IN (SELECT event_id FROM {db}.alerts) AND r IN %(ids)s"
)


def found_ids(client: Any, db: str, ids: list[str], sql: str = STORED_SQL) -> set[str]:
    found: set[str] = set()
    for k in range(
        0, len(ids), 2000
    ):  # 2,000 ids (twice in some queries) stay under max_query_size
        chunk = ids[k : k + 2000]
        rows = client.query(sql.format(db=db), parameters={"ids": chunk}).result_rows
        found.update(str(r[0]) for r in rows)
    return found


def stored_ids(client: Any, db: str, ids: list[str]) -> set[str]:
    return found_ids(client, db, ids, STORED_SQL)


def wait_found(
    client_factory: Callable[[], Any],
    db: str,
    ids: list[str],
    timeout_s: float,
    sql: str = STORED_SQL,
) -> float | None:
    """Seconds until the query finds every id, or None after ``timeout_s``. Survives ClickHouse errors."""
    t0 = time.monotonic()
    remaining = list(ids)
    client = None
    while time.monotonic() - t0 < timeout_s:
        try:
            client = client or client_factory()
            found = found_ids(client, db, remaining, sql)
            remaining = [i for i in remaining if i not in found]
            if not remaining:
                return round(time.monotonic() - t0, 2)
        except Exception as exc:
            logger.debug("id poll failed: %s", exc)
            client = None
        time.sleep(0.5)
    return None


def wait_stored(
    client_factory: Callable[[], Any], db: str, ids: list[str], timeout_s: float
) -> float | None:
    return wait_found(client_factory, db, ids, timeout_s, STORED_SQL)


@dataclass
class FaultResult:
    fault: str
    acked_before: int
    recovery_s: float | None
    note: str = ""
    passages_s: float | None = None
    injected_ms: int = 0
    restored_ms: int = 0


def redeliveries(
    accepted_at: dict[str, list[int]], faults: list[FaultResult]
) -> tuple[list[str], list[str]]:
    """Split alerts the receiver accepted more than once: (across a notifier kill, unexplained).

    The notifier records a delivery after the receiver answered; killed in between, its successor
    delivers again (at-least-once; the receiver can drop the copy by `X-Platestream-Alert-Id`).
    Such a copy is explained when a ``kill -9 notify`` happened between the first and the last
    accept of that alert. Any other copy means the notifier's dedup failed.
    """
    kills = [f.injected_ms for f in faults if f.fault == "kill -9 notify" and f.injected_ms]
    explained, unexplained = [], []
    for alert_id, times in sorted(accepted_at.items()):
        if len(times) < 2:
            continue
        first, last = min(times), max(times)
        if any(first <= k <= last for k in kills):
            explained.append(alert_id)
        else:
            unexplained.append(alert_id)
    return explained, unexplained


def scan_topic(
    settings: CommonSettings,
    topic: str,
    ids: set[str],
    key_field: str = "event_id",
    timeout_s: float = 120.0,
) -> dict[str, tuple[int, int]]:
    """Where (partition, offset) each of ``ids`` sits in ``topic``, read from the start (diagnosis)."""
    import uuid

    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from platestream.kafka import make_consumer
    from platestream.serde import AvroSerde

    serde = AvroSerde(settings.schema_registry_url)
    consumer = make_consumer(settings, f"chaos-scan-{uuid.uuid4().hex[:8]}")
    found: dict[str, tuple[int, int]] = {}
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        deadline = time.monotonic() + timeout_s
        idle_since = time.monotonic()
        while (
            time.monotonic() < deadline
            and time.monotonic() - idle_since < 15.0  # re-reads are slow on the local S3 engine
            and len(found) < len(ids)
        ):
            batch = consumer.consume(num_messages=1000, timeout=0.5)
            if batch:
                idle_since = time.monotonic()
            for msg in batch:
                if msg.error() is not None or msg.value() is None:
                    continue
                try:
                    rid = str(serde.decode(msg.value()).get(key_field))
                except Exception:
                    continue
                if rid in ids:
                    found[rid] = (int(msg.partition() or 0), int(msg.offset() or 0))
    finally:
        consumer.close()
    return found


@dataclass
class ChaosOptions:
    faults: list[Fault]
    rate: float = 20.0
    hit_every: int = 10
    warmup_s: float = 5.0
    between_s: float = 3.0
    recovery_timeout_s: float = 180.0
    passage_timeout_s: float = (
        60.0  # after a fault's rows are stored, how long to wait for passages
    )
    final_timeout_s: float = 180.0
    webhook_fail_every: int = 3
    broker_engine: str = (
        "s3"  # s3: the log survives a broker restart; memory: faster, no broker faults
    )
    stages: tuple[str, ...] = ("ingest", "enrich", "sink", "notify")
    log_dir: Path = PROJECT_ROOT / "var" / "log" / "chaos"


@dataclass
class ChaosReport:
    run_id: str
    options: dict[str, Any]
    faults: list[FaultResult] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "run_id": self.run_id,
            "options": self.options,
            "faults": [asdict(r) for r in self.faults],
            "figures": self.figures,
            "checks": self.checks,
            "problems": self.problems,
            "passed": self.passed,
        }

    def table(self) -> str:
        f = self.figures
        head = table(
            [
                "events sent",
                "acknowledged",
                "stored",
                "lost",
                "duplicated",
                "images missing",
                "alerts expected",
                "alerts delivered",
                "alert copies (across a notify kill)",
            ],
            [
                [
                    f.get("sent"),
                    f.get("acknowledged"),
                    f.get("stored"),
                    f.get("lost"),
                    f.get("duplicated"),
                    f.get("images_missing"),
                    f.get("alerts_expected"),
                    f.get("alerts_delivered"),
                    f"{f.get('alert_duplicates')} ({f.get('alert_redeliveries_across_notify_kill', 0)})",
                ]
            ],
        )
        faults = table(
            ["fault", "acked before", "all stored after (s)", "all in passages after (s)", "note"],
            [
                [
                    r.fault,
                    r.acked_before,
                    r.recovery_s if r.recovery_s is not None else "NOT RECOVERED",
                    r.passages_s,
                    r.note,
                ]
                for r in self.faults
            ],
        )
        verdict = "PASS" if self.passed else "FAIL: " + "; ".join(self.problems)
        return f"{head}\n\n{faults}\n\n{verdict}"


class ChaosRun:
    """One run of the suite on a given stack; ``run()`` returns the report."""

    def __init__(
        self,
        *,
        settings: CommonSettings,
        stack: Any,
        options: ChaosOptions,
        echo: Callable[[str], None] = lambda s: logger.info("%s", s),
    ) -> None:
        self.base = settings
        self.stack = stack
        self.opts = options
        self.echo = echo
        self.run_id = harness.new_run_id("chaos")
        self.settings = harness.isolated(settings, self.run_id)
        self.canary_ids: set[str] = set()
        self.canary_alerts: set[str] = set()

    def _client(self) -> Any:
        from platestream.clickhouse import make_clickhouse

        return make_clickhouse(self.settings)

    def run(self) -> ChaosReport:
        opts = self.opts
        report = ChaosReport(
            self.run_id,
            {
                "faults": [f.name for f in opts.faults],
                "rate": opts.rate,
                "hit_every": opts.hit_every,
                "stages": list(opts.stages),
            },
        )
        harness.prepare_namespace(self.settings)
        webhook = WebhookReceiver(opts.webhook_fail_every).start()
        devices = [(f"chaos-dev-{k}", f"chaos-cam-{k}") for k in range(4)]
        max_events = int(
            opts.rate * (opts.warmup_s + len(opts.faults) * (opts.recovery_timeout_s + 60) + 60)
        )
        self._write_watchlist(max_events)
        ingest_port = harness.free_port()
        env = {
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
                    [{"channel": "webhook", "target": webhook.url}]
                ),
                "PLATESTREAM_NOTIFY_MAX_ATTEMPTS": "20",
                "PLATESTREAM_NOTIFY_BACKOFF_BASE_S": "0.1",
                "PLATESTREAM_NOTIFY_BACKOFF_MAX_S": "2",
            },
        }
        stages = harness.Stages(
            self.settings, list(opts.stages), opts.log_dir / self.run_id, extra_env=env
        )
        load = IngestLoad(
            url=f"http://127.0.0.1:{ingest_port}/push/generic",
            devices=devices,
            run_id=self.run_id,
            rate=opts.rate,
            hit_every=opts.hit_every,
        )
        try:
            with stages:
                self._wait_ready(stages, load, webhook, ingest_port)
                load.start()
                time.sleep(opts.warmup_s)
                for fault in opts.faults:
                    report.faults.append(self._inject(fault, stages, load))
                    time.sleep(opts.between_s)
                load.stop(drain_timeout_s=opts.final_timeout_s)
                self._final(report, stages, load, webhook)
        finally:
            webhook.stop()
            try:
                harness.drop_namespace(self.settings)
            except Exception as exc:
                logger.warning("cleanup failed: %s", exc)
        return report

    def _write_watchlist(self, max_events: int) -> None:
        from platestream.bench.pipeline import produce_all
        from platestream.serde import AvroSerde

        serde = AvroSerde(self.settings.schema_registry_url)
        topic = self.settings.topic(catalogue.BOLO.name)
        records = []
        for i in [-1, *range(0, max_events, self.opts.hit_every)]:
            entry_id = f"{self.run_id}-bolo-{i}"
            rec = {
                "entry_id": entry_id,
                "list_id": f"{self.run_id}-list",
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
        produce_all(self.settings, topic, records)

    def _wait_ready(
        self, stages: harness.Stages, load: IngestLoad, webhook: WebhookReceiver, port: int
    ) -> None:
        """Readiness end to end: a canary push on the watchlist must be stored and alerted."""
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
        self.canary_ids = set(resp.json()["event_ids"])
        if (
            wait_stored(self._client, self.settings.clickhouse_database, list(self.canary_ids), 90)
            is None
        ):
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
            self.canary_alerts = set(webhook.accepted)

    def _inject(self, fault: Fault, stages: harness.Stages, load: IngestLoad) -> FaultResult:
        self.echo(f"fault: {fault.name}")
        injected = now_ms()
        note = ""
        if fault.kind == "kill":
            if fault.target not in stages.names:
                return FaultResult(
                    fault.name, len(load.acked), None, "stage not running in this suite"
                )
            old = stages.kill9(fault.target)
            if not stages.wait_restarted(fault.target, old, 60):
                note = "supervisor did not restart it within 60 s"
        elif fault.kind == "restart":
            t0 = time.monotonic()
            self.stack.stop(fault.target)
            self.stack.start(fault.target)
            note = f"down {time.monotonic() - t0:.1f} s"
        else:
            self.stack.stop(fault.target)
            time.sleep(fault.duration_s)
            self.stack.start(fault.target)
        restored = now_ms()
        acked = [a.event_id for a in load.acked_snapshot().values()]
        t0 = time.monotonic()
        db = self.settings.clickhouse_database
        recovery = wait_stored(self._client, db, acked, self.opts.recovery_timeout_s)
        passages = None
        if "enrich" in self.opts.stages:
            waited = wait_found(
                self._client, db, acked, self.opts.passage_timeout_s, IN_PASSAGE_SQL
            )
            passages = round(time.monotonic() - t0, 2) if waited is not None else None
        self.echo(
            f"  stored after {recovery} s, in passages after {passages} s ({len(acked)} acknowledged so far)"
        )
        return FaultResult(fault.name, len(acked), recovery, note, passages, injected, restored)

    def _final(
        self,
        report: ChaosReport,
        stages: harness.Stages,
        load: IngestLoad,
        webhook: WebhookReceiver,
    ) -> None:
        acked = load.acked_snapshot()
        ids = list(acked)
        db = self.settings.clickhouse_database
        caught_up = wait_stored(self._client, db, ids, self.opts.final_timeout_s)
        client = self._client()
        hits = {a.event_id for a in acked.values() if a.hit}
        # Alerts: wait (bounded) until every hit has a delivered alert at the webhook.
        expected_alerts = len(hits)
        deadline = time.monotonic() + self.opts.final_timeout_s
        alerted: set[str] = set()
        while "enrich" in self.opts.stages and time.monotonic() < deadline:
            alerted = found_ids(client, db, sorted(hits), ALERTED_SQL) if hits else set()
            delivered_enough = "notify" not in self.opts.stages or (
                len(webhook.accepted) - len(self.canary_alerts) >= expected_alerts
            )
            if delivered_enough and alerted >= hits:
                break
            time.sleep(1.0)
        alert_rows = [
            (str(a), str(e))
            for a, e in client.query(
                f"SELECT alert_id, any(event_id) FROM {db}.alerts FINAL GROUP BY alert_id"
            ).result_rows
        ]
        in_passages = None
        if "enrich" in self.opts.stages:
            left = max(5.0, deadline - time.monotonic())
            waited = wait_found(self._client, db, ids, left, IN_PASSAGE_SQL)
            in_passages = len(found_ids(client, db, ids, IN_PASSAGE_SQL))
            report.checks["passages_caught_up_s"] = waited
        stored = stored_ids(client, db, ids)
        per_id = dict(
            client.query(
                f"SELECT event_id, count() FROM {db}.camera_events FINAL GROUP BY event_id HAVING count() > 1"
            ).result_rows
        )
        raw_dupes = int(
            str(client.command(f"SELECT count() - uniqExact(event_id) FROM {db}.camera_events"))
        )
        all_stored = {
            str(r[0])
            for r in client.query(f"SELECT DISTINCT event_id FROM {db}.camera_events").result_rows
        }
        phantom = len(all_stored - set(ids) - self.canary_ids)
        image_keys = client.query(
            f"SELECT event_id, image_keys FROM {db}.camera_events FINAL"
        ).result_rows
        images_missing, images_expected = self._missing_images(image_keys)
        alerted_events = alerted
        canary_passages = {
            str(r[0])
            for r in client.query(
                f"SELECT event_id FROM {db}.plate_events FINAL WHERE hasAny(read_ids, %(ids)s)",
                parameters={"ids": sorted(self.canary_ids) or [""]},
            ).result_rows
        }
        alert_rows = [(a, e) for a, e in alert_rows if e not in canary_passages]
        delivered = client.query(
            f"SELECT alert_id, countIf(status = 'delivered') FROM {db}.alert_deliveries FINAL GROUP BY alert_id"
        ).result_rows
        delivered_ok = {str(a): int(n) for a, n in delivered}
        accepted = {a: n for a, n in webhook.accepted.items() if a not in self.canary_alerts}
        across_kill, unexplained = redeliveries(
            {a: webhook.accepted_at[a] for a, n in accepted.items() if n > 1}, report.faults
        )
        lost = sorted(set(ids) - stored)
        alive = stages.alive()
        lag_left = self._lag_left()
        f = report.figures
        f.update(
            {
                "sent": load.sent,
                "acknowledged": len(acked),
                "stored": len(stored & set(ids)),
                "lost": len(lost),
                "in_passages": in_passages,
                "duplicated": len(per_id),
                "raw_duplicate_rows_before_merge": raw_dupes,
                "stored_not_acknowledged": phantom,
                "images_expected": images_expected,
                "images_missing": images_missing,
                "alerts_expected": expected_alerts,
                "alert_rows": len(alert_rows),
                "alerts_delivered": len([a for a, n in accepted.items() if n >= 1]),
                "alert_duplicates": sum(n - 1 for n in accepted.values() if n > 1),
                "alert_redeliveries_across_notify_kill": len(across_kill),
                "passages_with_several_alerts": sum(
                    1 for n in Counter(e for _, e in alert_rows).values() if n > 1
                ),
                "webhook_requests": webhook.requests,
                "webhook_refused": webhook.refused,
                "pushes_given_up": len(load.gave_up),
                "push_statuses": load.statuses,
                "restarts": dict(stages.supervisor.restarts),
                "caught_up_s": caught_up,
                "lag_left": lag_left,
            }
        )
        report.checks = {
            "alive": alive,
            "deliveries_delivered_once": sum(1 for n in delivered_ok.values() if n == 1),
        }
        p = report.problems
        if lost:
            p.append(f"{len(lost)} acknowledged events not in ClickHouse (e.g. {lost[:3]})")
            report.checks["lost"] = self._diagnose(lost, acked, report.faults)
        if per_id:
            p.append(f"{len(per_id)} event ids more than once after FINAL")
        if images_missing:
            p.append(f"{images_missing} of {images_expected} images missing from the bucket")
        if images_expected < len(stored) + len(self.canary_ids):
            p.append(
                f"only {images_expected} image keys for {len(stored)} stored events (one image each was sent)"
            )
        if in_passages is not None and in_passages < len(ids):
            p.append(
                f"{len(ids) - in_passages} acknowledged events never merged into a passage (enrich stuck?)"
            )
        if "enrich" in stages.names:
            missing_alert_events = hits - alerted_events
            if missing_alert_events:
                p.append(f"{len(missing_alert_events)} watchlist hits without an alert row")
                report.checks["hits_without_alert"] = self._diagnose_hits(
                    client, sorted(missing_alert_events)[:20]
                )
        if "notify" in stages.names:
            if f["alerts_delivered"] < len(alert_rows):
                p.append(
                    f"{len(alert_rows) - f['alerts_delivered']} alerts never delivered to the webhook"
                )
            if unexplained:
                p.append(
                    f"{len(unexplained)} alerts delivered more than once to the webhook without a"
                    f" notifier crash between the deliveries (e.g. {unexplained[:3]})"
                )
            if across_kill:  # so there was a notifier kill; its time, for each copy's timing
                kill = next(r.injected_ms for r in report.faults if r.fault == "kill -9 notify")
                report.checks["redelivered_across_notify_kill"] = {
                    a: {
                        "accepted_ms_after_kill": [t - kill for t in webhook.accepted_at[a]],
                        "kill_ms": kill,
                    }
                    for a in across_kill
                }
        if f["passages_with_several_alerts"]:
            p.append(
                f"{f['passages_with_several_alerts']} watchlist hits raised more than one alert"
            )
        not_alive = [n for n, ok in alive.items() if not ok]
        if not_alive:
            p.append(f"stages not running at the end: {not_alive}")
        stuck = {g: v for g, v in lag_left.items() if v}
        if stuck:
            p.append(f"consumer groups with records left (stuck?): {stuck}")
        for r in report.faults:
            if r.recovery_s is None and "not running" not in r.note:
                p.append(f"no recovery after {r.fault}")
        if load.gave_up:
            p.append(f"{len(load.gave_up)} pushes never acknowledged after retries")

    def _diagnose(
        self, lost: list[str], acked: dict[str, Acked], faults: list[FaultResult]
    ) -> list[dict[str, Any]]:
        """For each lost id: when it was acknowledged, the fault nearest in time, and whether the
        broker still has it (then the sink dropped it) or not (then the broker or ingest did)."""
        where = scan_topic(
            self.settings, self.settings.topic(catalogue.CAMERA_EVENTS.name), set(lost[:50])
        )
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
                    "acked_minus_fault_injected_ms": a.acked_ms - near.injected_ms
                    if near
                    else None,
                    "acked_minus_fault_restored_ms": a.acked_ms - near.restored_ms
                    if near
                    else None,
                }
            )
        self.echo(f"lost events: {json.dumps(out, indent=1)}")
        return out

    def _diagnose_hits(self, client: Any, ids: list[str]) -> list[dict[str, Any]]:
        """The passage (if any) of each hit that raised no alert, with what enrich decided."""
        db = self.settings.clickhouse_database
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
        self.echo(f"hits without an alert: {json.dumps(out, indent=1)}")
        return out

    def _missing_images(self, rows: list[tuple[Any, Any]]) -> tuple[int, int]:
        from minio.error import S3Error

        from platestream.s3 import make_s3

        s3 = make_s3(self.settings)
        missing = expected = 0
        for _, keys in rows:
            for key in keys:
                expected += 1
                try:
                    s3.stat_object(self.settings.s3_bucket, key)
                except S3Error:
                    missing += 1
        return missing, expected

    def _lag_left(self) -> dict[str, int | None]:
        """Records each group still has to read, after a bounded wait for it to reach zero."""
        from platestream.bench.probes import LagSampler

        groups = {}
        for stage, group, topic in (
            ("enrich", "platestream-enrich", catalogue.CAMERA_EVENTS),
            ("sink-clickhouse", "platestream-sink-clickhouse", catalogue.CAMERA_EVENTS),
            ("notify", "platestream-notify", catalogue.ALERTS),
        ):
            if stage.split("-")[0] in self.opts.stages:
                groups[stage] = (
                    harness.group_id(self.settings, group),
                    [self.settings.topic(topic.name)],
                )
        sampler = LagSampler(settings=self.settings, groups=groups, interval_s=1.0)
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


def run_suite(
    base: CommonSettings,
    options: ChaosOptions,
    echo: Callable[[str], None] = print,
    json_path: Path | None = None,
) -> ChaosReport:
    """The whole suite on a private stack: start it, run, stop it; optionally write the report as JSON."""
    from platestream.benchutil import machine, write_json

    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if options.broker_engine == "memory" and any(
        f.target in ("broker", "s3") for f in options.faults
    ):
        raise ValueError(
            "broker restarts and S3 outages need broker_engine='s3' (a memory log is lost on restart)"
        )
    with harness.private_stack(base, ephemeral=options.broker_engine == "memory") as (
        settings,
        stack,
    ):
        report = ChaosRun(settings=settings, stack=stack, options=options, echo=echo).run()
    write_json(
        json_path,
        {
            **report.to_dict(),
            "machine": machine(),
            "started_at": started,
            "load_avg_at_end": [round(x, 2) for x in __import__("os").getloadavg()],
        },
    )
    return report
