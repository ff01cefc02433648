"""Test environment of the API: an isolated namespace on the live stack, seeded through the real sink.

Plate events, reads and alerts are produced to the topics and the sink (services/sink) runs
in-process until ClickHouse holds the rows and the bucket the crops; then the API runs under
uvicorn on a free port, so tests talk HTTP and WebSocket to it like any client.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from platestream import topics as catalogue
from platestream.ids import stable_id
from platestream.kafka import create_topics, make_admin, make_producer
from platestream.s3 import ensure_bucket, make_s3
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.stack.ports import free_port
from platestream.timeutil import now_ms

ROLES = ("admin", "operator", "analyst", "viewer", "device")
PASSWORD = "correct-horse-battery"
TEST_PURPOSE = "investigation"
# For browser.wait_for: once the console has loaded the purposes, choose the tests' one.
CHOOSE_PURPOSE_JS = (
    "(() => { const s = document.querySelector('#q-purpose');"
    " if (!s || !s.dataset.ready) return false;"
    f" s.value = '{TEST_PURPOSE}'; s.dispatchEvent(new Event('change'));"
    f" return s.value === '{TEST_PURPOSE}'; }})()"
)


def crop_jpeg(index: int) -> bytes:
    """A plate crop rendered by the project's synthetic generator, as JPEG (a real image the
    browser can decode); deterministic per index, so the tests need no files beside the clone."""
    import random

    import cv2

    from services.detect.synth import draw_plate, plate_spec

    rng = random.Random(f"api-test-crop:{index}")
    plate = draw_plate(plate_spec(rng, "br"), rng)
    ok, buf = cv2.imencode(".jpg", plate)
    assert ok
    return bytes(buf)


def image_ref(kind: str, data: bytes) -> dict[str, Any]:
    return {
        "kind": kind,
        "content_type": "image/jpeg",
        "data": data,
        "s3_key": None,
        "width": None,
        "height": None,
        "sha256": None,
    }


@dataclass
class Seed:
    base_ts: int
    events: list[dict[str, Any]] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    crops: dict[str, bytes] = field(default_factory=dict)  # event_id -> crop bytes

    def by_plate(self, plate: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["plate"] == plate]


# plate, camera, site, direction, vehicle, confidence, watchlist hits
ROWS = [
    ("ABC1234", "cam-a", "north", "approaching", "car", 0.95, []),
    ("ABC1234", "cam-b", "north", "leaving", "car", 0.93, []),
    ("ABC1234", "cam-c", "south", "approaching", "car", 0.91, []),
    ("A8C1234", "cam-a", "north", "approaching", "car", 0.88, []),
    ("ABD1234", "cam-b", "north", "leaving", "truck", 0.9, []),
    ("AB51234", "cam-c", "south", "approaching", "bus", 0.55, []),
    ("XYZ9876", "cam-a", "north", "approaching", "car", 0.97, ["stolen"]),
    ("QRS4321", "cam-b", "north", None, None, 0.45, []),
    ("LMN0001", "cam-c", "south", "leaving", "motorcycle", 0.99, []),
    ("KJH5555", "cam-a", "north", "approaching", "car", 0.62, []),
]
EXTRA = 14  # filler events, so pagination has pages


def build_seed(base_ts: int) -> Seed:
    seed = Seed(base_ts=base_ts)
    crops = [crop_jpeg(i) for i in range(1, 5)]
    rows = list(ROWS) + [
        (f"FIL{i:04d}", ("cam-a", "cam-b", "cam-c")[i % 3], "north", "leaving", "car", 0.8, [])
        for i in range(EXTRA)
    ]
    for i, (plate, cam, site, direction, vehicle, conf, hits) in enumerate(rows):
        ts = base_ts + i * 10_000
        event_id = stable_id("api-test-event", base_ts, i)
        read_id = stable_id("api-test-read", base_ts, i)
        crop = crops[i % len(crops)]
        seed.crops[event_id] = crop
        seed.events.append(
            {
                "event_id": event_id,
                "version": 0,
                "camera_id": cam,
                "lane": 1,
                "plate": plate,
                "confidence": conf,
                "plate_format": None,
                "country": "BR",
                "ts": ts,
                "first_seen": ts - 400,
                "last_seen": ts,
                "read_count": 2,
                "variants": [plate],
                "read_ids": [read_id],
                "best_read_id": read_id,
                "best_crop": image_ref("plate", crop),
                "images": [],
                "source": "detector",
                "direction": direction,
                "vehicle_type": vehicle,
                "vehicle_color": "red" if i % 2 else "white",
                "vehicle_make": None,
                "vehicle_model": None,
                "camera_name": f"Camera {cam[-1].upper()}",
                "site": site,
                "zone": "gate",
                "lat": -23.5 + i / 1000,
                "lon": -46.6,
                "heading": 90.0,
                "access_status": "unknown",
                "watchlist_hits": hits,
                "correction_id": None,
                "received_at": ts + 20,
                "emitted_at": ts + 500,
            }
        )
        seed.reads.append(
            {
                "read_id": read_id,
                "frame_id": stable_id("api-test-frame", base_ts, i),
                "camera_id": cam,
                "ts": ts - 200,
                "plate": plate,
                "plate_raw": plate,
                "confidence": conf,
                "char_confidences": [],
                "candidates": [{"plate": plate[:-1] + "0", "confidence": 0.1}],
                "plate_format": None,
                "plate_box": {"x": 10, "y": 20, "w": 120, "h": 40},
                "detection_confidence": 0.9,
                "vehicle_box": None,
                "vehicle_type": vehicle,
                "crop": None,
                "direction": direction,
                "lane": 1,
                "detector": "test",
                "inference_ms": 10.0,
                "received_at": ts - 150,
            }
        )
        if hits:
            seed.alerts.append(
                {
                    "alert_id": stable_id("api-test-alert", base_ts, i),
                    "entry_id": "entry-stolen-1",
                    "list_id": "stolen",
                    "list_kind": "bolo",
                    "pattern": plate,
                    "match_type": "exact",
                    "reason": "stolen car",
                    "priority": "high",
                    "owner": "operator",
                    "event_id": event_id,
                    "camera_id": cam,
                    "plate": plate,
                    "confidence": conf,
                    "ts": ts,
                    "early": False,
                    "read_id": read_id,
                    "site": site,
                    "zone": "gate",
                    "camera_name": None,
                    "crop_s3_key": None,
                    "received_at": ts + 20,
                    "emitted_at": ts + 100,
                }
            )
    return seed


def produce(
    settings: CommonSettings,
    topic: catalogue.Topic,
    schema: str,
    records: list[dict[str, Any]],
    key_field: str = "camera_id",
) -> None:
    serde = AvroSerde(settings.schema_registry_url)
    producer = make_producer(settings)
    name = settings.topic(topic.name)
    for rec in records:
        producer.produce(
            name,
            key=str(rec[key_field]).encode(),
            value=serde.encode(schema, rec, subject=f"{name}-value"),
        )
    assert producer.flush(30) == 0


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class ApiServer:
    """The app under uvicorn in a thread, on a free port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_config=None,
                access_log=False,
                lifespan="on",
                ws="websockets-sansio",
                proxy_headers=False,  # as `platestream api` runs it: the app decides whom to trust
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        wait_until(lambda: self.server.started, 60, "uvicorn to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@dataclass
class ApiEnv:
    settings: Any  # ApiSettings
    url: str
    seed: Seed
    state: Any  # AppState
    tokens: dict[str, str]
    http: httpx.Client

    def headers(self, role: str) -> dict[str, str]:
        # Searches, exports, views and replays need a stated purpose (issue 17): tests state one.
        return {"Authorization": f"Bearer {self.tokens[role]}", "X-Purpose": TEST_PURPOSE}

    def get(
        self, path: str, role: str = "admin", headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        return self.http.get(path, headers={**self.headers(role), **(headers or {})}, **kw)

    def post(
        self, path: str, role: str = "admin", headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        return self.http.post(path, headers={**self.headers(role), **(headers or {})}, **kw)


def isolated(stack: CommonSettings) -> CommonSettings:
    tag = f"api{uuid.uuid4().hex[:10]}"
    return stack.model_copy(
        update={"topic_prefix": f"{tag}.", "s3_bucket": tag, "clickhouse_database": tag}
    )


@contextlib.contextmanager
def sink_running(settings: CommonSettings) -> Iterator[None]:
    """The real sink (both projections) in this process until the block ends."""
    from services.sink.service import run
    from services.sink.settings import SinkSettings

    sink_settings = SinkSettings(
        **{**settings.model_dump(), "sink_metrics_port": 0, "sink_batch_ms": 100}
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run(sink_settings, stop, {"clickhouse", "s3"})
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="sink-under-test", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
    if errors:
        raise errors[0]


def migrate(settings: CommonSettings) -> None:
    from platestream.clickhouse import make_clickhouse
    from services.sink.migrations import migrate as run_migrations
    from services.sink.settings import SinkSettings

    client = make_clickhouse(settings, database="default", autogenerate_session_id=False)
    run_migrations(
        client, SinkSettings(**settings.model_dump()), database=settings.clickhouse_database
    )


def cleanup(settings: CommonSettings) -> None:
    from platestream.clickhouse import make_clickhouse

    with contextlib.suppress(Exception):
        make_clickhouse(settings, database="default").command(
            f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`"
        )
    with contextlib.suppress(Exception):
        admin = make_admin(settings)
        doomed = [
            n for n in admin.list_topics(timeout=5).topics if n.startswith(settings.topic_prefix)
        ]
        if doomed:
            for fut in admin.delete_topics(doomed, operation_timeout=5).values():
                fut.result(timeout=10)


@contextlib.contextmanager
def api_environment(stack: CommonSettings, **overrides: Any) -> Iterator[ApiEnv]:
    """Isolated topics/bucket/database, seeded data, sink running, API served; all torn down after."""
    from platestream.clickhouse import make_clickhouse
    from services.api.main import create_app
    from services.api.settings import ApiSettings

    base = isolated(stack)
    create_topics(base)
    ensure_bucket(make_s3(base), base.s3_bucket)
    migrate(base)
    seed = build_seed(now_ms() - 3_600_000)
    secrets_dir = Path(tempfile.mkdtemp(prefix="platestream-api-secrets-"))
    try:
        with sink_running(base):
            produce(base, catalogue.PLATE_EVENTS, "plate_event", seed.events)
            produce(base, catalogue.PLATE_READS, "plate_read", seed.reads)
            produce(base, catalogue.ALERTS, "bolo_alert", seed.alerts)
            ch = make_clickhouse(base, autogenerate_session_id=False)
            wait_until(
                lambda: (
                    ch.command("SELECT count() FROM plate_events") == len(seed.events)
                    and ch.command("SELECT count() FROM alerts") == len(seed.alerts)
                    and ch.command("SELECT count() FROM plate_reads") == len(seed.reads)
                ),
                90,
                "the sink's rows",
            )
            s3 = make_s3(base)
            wait_until(
                lambda: (
                    sum(1 for _ in s3.list_objects(base.s3_bucket, prefix="crops/", recursive=True))
                    >= len(seed.events)
                ),
                90,
                "the sink's crops",
            )
            api_settings = ApiSettings(
                **{
                    **base.model_dump(),
                    "api_secrets_dir": secrets_dir,
                    "api_rate_per_s": 500.0,
                    "api_rate_burst": 2000,
                    "api_login_rate_per_s": 100.0,
                    "api_login_burst": 200,
                    **overrides,
                }
            )
            app = create_app(api_settings)
            state = app.state.ps
            with ApiServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
                for role in ROLES:
                    state.accounts.create_user(role, role, PASSWORD, actor="test")
                tokens = {}
                for role in ROLES:
                    resp = http.post(
                        "/api/v1/auth/token", data={"username": role, "password": PASSWORD}
                    )
                    assert resp.status_code == 200, resp.text
                    tokens[role] = resp.json()["access_token"]
                yield ApiEnv(api_settings, server.url, seed, state, tokens, http)
    finally:
        cleanup(base)
        shutil.rmtree(secrets_dir, ignore_errors=True)


def log_in(browser: Any, url: str, user: str) -> None:
    """Open the console at ``url`` in ``browser`` (tests/api/cdp.py) and sign in as ``user``."""
    browser.navigate(url + "/")
    browser.wait_for("!!document.querySelector('#login-user')")
    browser.eval(f"""
        document.querySelector('#login-user').value = {user!r};
        document.querySelector('#login-pass').value = {PASSWORD!r};
        document.querySelector('#login-submit').click(); true""")
