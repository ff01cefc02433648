"""The demo behind `make run`: a demo admin, demo cameras and devices, a watchlist entry, the
synthetic traffic scene through the real frame path, the shared camera samples through the real
push endpoints, and a live progress line."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from platestream import topics as catalogue
from platestream.settings import PROJECT_ROOT, CommonSettings
from platestream.supervisor import ProcessSpec
from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)

DEMO_ADMIN = "admin"
DEMO_PASSWORD = (
    "platestream-demo"  # development only; the API refuses default secrets in production
)
SIM_SEED = 7
SAMPLES = PROJECT_ROOT.parent / "shared" / "samples" / "camera"

# device id -> (camera id, API key, push format)
DEVICES: dict[str, tuple[str, str, str]] = {
    "hik-gate-1": ("cam-hik-gate", "demo-hik-secret", "hikvision"),
    "dahua-ring-1": ("cam-dahua-ring", "demo-dahua-secret", "dahua"),
    "alpr-agent-1": ("cam-alpr-north", "demo-alpr-secret", "openalpr"),
}
CAMERAS: list[dict[str, Any]] = [
    {
        "camera_id": "cam-sim-1",
        "name": "Simulated high street",
        "site": "Demo town",
        "zone": "centre",
        "lat": 51.5007,
        "lon": -0.1246,
        "heading": 90.0,
    },
    {
        "camera_id": "cam-hik-gate",
        "name": "Depot gate (Hikvision)",
        "site": "Depot",
        "zone": "gate",
        "lat": 51.51,
        "lon": -0.13,
        "heading": 180.0,
        "direction_map": {"forward": "approaching", "reverse": "leaving"},
    },
    {
        "camera_id": "cam-dahua-ring",
        "name": "Ring road (Dahua)",
        "site": "Demo town",
        "zone": "ring",
        "lat": 51.52,
        "lon": -0.11,
        "heading": 0.0,
    },
    {
        "camera_id": "cam-alpr-north",
        "name": "North car park (OpenALPR)",
        "site": "Car park",
        "zone": "north",
        "lat": 51.53,
        "lon": -0.12,
        "heading": 270.0,
    },
]


def demo_env() -> dict[str, str]:
    """Settings the demo adds to every stage's environment."""
    devices = {
        dev: {"camera_id": cam, "secret": key, "rate_per_s": 20}
        for dev, (cam, key, _) in DEVICES.items()
    }
    return {"PLATESTREAM_INGEST_DEVICES": json.dumps(devices)}


class Demo:
    """Seeds the demo data once the stages run, then prints progress on each supervisor tick."""

    def __init__(self, *, settings: CommonSettings, stop: threading.Event) -> None:
        self.settings = settings
        self.stop = stop
        from platestream.settings import load
        from services.api.settings import ApiSettings
        from services.ingest.settings import IngestSettings

        self.ingest_url = f"http://127.0.0.1:{load(IngestSettings).ingest_port}"
        self.api_url = f"http://127.0.0.1:{load(ApiSettings).api_port}"
        self.started = time.monotonic()
        self.notes: list[str] = []
        self._last_line = ""
        self._ch: Any = None
        self._consumer: Any = None

    def process_specs(self) -> list[ProcessSpec]:
        exe = [sys.executable, "-m", "platestream.cli"]
        sim = f"cam-sim-1=sim://scene?seed={SIM_SEED}&fps=5"
        return [ProcessSpec("camera-sim", [*exe, "ingest", "camera", "--source", sim], demo_env())]

    # -- seeding --------------------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._create_admin()
            self._publish_cameras_and_watchlist()
            if self._wait_http(f"{self.ingest_url}/health", 120):
                self._push_samples()
            if self._wait_http(f"{self.api_url}/health", 120):
                self._announce()
        except Exception:  # the demo must never take the pipeline down
            logger.exception("demo seeding failed")

    def _wait_http(self, url: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.stop.is_set():
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
            self.stop.wait(1.0)
        return False

    def _create_admin(self) -> None:
        import subprocess

        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "platestream.cli",
                "users",
                "create",
                DEMO_ADMIN,
                "--role",
                "admin",
                "--password",
                DEMO_PASSWORD,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode != 0 and "exist" not in (proc.stderr + proc.stdout):
            logger.warning("could not create the demo admin: %s", proc.stderr.strip()[-300:])

    def _publish_cameras_and_watchlist(self) -> None:
        from platestream.ids import stable_id
        from platestream.kafka import make_producer
        from platestream.serde import AvroSerde
        from services.ingest.sim import vehicle

        serde = AvroSerde(settings=self.settings)
        producer = make_producer(self.settings)
        cam_topic = self.settings.topic(catalogue.CAMERAS.name)
        for cam in CAMERAS:
            record = {"updated_at": now_ms(), "updated_by": "demo", "plate_formats": [], **cam}
            producer.produce(
                cam_topic,
                key=cam["camera_id"].encode(),
                value=serde.encode("camera", record, subject=f"{cam_topic}-value"),
            )
        bolo_topic = self.settings.topic(catalogue.BOLO.name)
        for index in (1, 4):
            plate = vehicle(SIM_SEED, index).plate
            entry = {
                "entry_id": stable_id("demo-bolo", plate),
                "list_id": "demo-stolen",
                "list_kind": "bolo",
                "pattern": plate,
                "match_type": "fuzzy",
                "max_distance": 1,
                "reason": "demo: reported stolen",
                "priority": "high",
                "owner": DEMO_ADMIN,
                "updated_at": now_ms(),
            }
            producer.produce(
                bolo_topic,
                key=str(entry["entry_id"]).encode(),
                value=serde.encode("bolo_entry", entry, subject=f"{bolo_topic}-value"),
            )
        producer.flush(30)

    def _push_samples(self) -> None:
        pushes = [
            (
                "hikvision",
                "hikvision_isapi_anpr_plate_detected.xml",
                "application/xml",
                "demo-hik-secret",
            ),
            (
                "dahua",
                "dahua_snapManager_attachFileProc_TrafficRetrograde_kv.txt",
                "text/plain",
                "demo-dahua-secret",
            ),
            (
                "openalpr",
                "openalpr_agent_webhook_alpr_group.json",
                "application/json",
                "demo-alpr-secret",
            ),
        ]
        for fmt, name, ctype, key in pushes:
            path = SAMPLES / name
            if not path.is_file():
                self.notes.append(f"sample {name} not found beside the repository; skipped")
                continue
            try:
                r = httpx.post(
                    f"{self.ingest_url}/push/{fmt}",
                    content=path.read_bytes(),
                    headers={"content-type": ctype, "x-api-key": key},
                    timeout=30,
                )
                self.notes.append(f"pushed {name}: HTTP {r.status_code}")
            except httpx.HTTPError as exc:
                self.notes.append(f"push of {name} failed: {exc}")

    def _announce(self) -> None:
        lines = [
            "",
            f"  web console : {self.api_url}/   (login {DEMO_ADMIN} / {DEMO_PASSWORD})",
            f"  API docs    : {self.api_url}/api/docs",
            f"  ingest push : {self.ingest_url}/push/<format>   metrics: {self.ingest_url}/metrics",
            f"  ClickHouse  : {self.settings.clickhouse_url} (user {self.settings.clickhouse_user})",
            *(f"  {n}" for n in self.notes),
            "",
        ]
        print("\n".join(lines), flush=True)

    # -- progress -------------------------------------------------------------------------------
    def counts(self) -> dict[str, int | None]:
        from platestream.clickhouse import make_clickhouse

        out: dict[str, int | None] = {}
        try:
            if self._ch is None:
                self._ch = make_clickhouse(self.settings)
            for label, sql in (
                ("reads", "SELECT count() FROM plate_reads"),
                ("device events", "SELECT count() FROM camera_events"),
                ("passages", "SELECT uniqExact(event_id) FROM plate_events"),
                ("alerts", "SELECT uniqExact(alert_id) FROM alerts"),
            ):
                out[label] = int(self._ch.query(sql).result_rows[0][0])
        except Exception:  # ClickHouse not ready yet, or migrations still running
            self._ch = None
        out["frames"] = self._frames()
        return out

    def _frames(self) -> int | None:
        """Frames on the topic (sum of end offsets; approximate on the local broker)."""
        from confluent_kafka import KafkaException, TopicPartition

        from platestream.kafka import make_consumer

        try:
            if self._consumer is None:  # one client for the whole run, not one per tick
                self._consumer = make_consumer(self.settings, "platestream-demo-progress")
            topic = self.settings.topic(catalogue.FRAMES.name)
            md = self._consumer.list_topics(topic, timeout=2).topics[topic]
            return sum(
                int(self._consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=2)[1])
                for p in md.partitions
            )
        except (KafkaException, KeyError, TypeError):
            return None

    def close(self) -> None:
        """Close the progress clients; called before the local stack stops, so that librdkafka
        does not log a refused connection per retry while the broker goes away."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            consumer.close()
        ch, self._ch = self._ch, None
        if ch is not None:
            ch.close()

    def print_progress(self) -> None:
        c = self.counts()
        elapsed = int(time.monotonic() - self.started)
        parts = [f"{k} {'-' if v is None else v}" for k, v in c.items()]
        line = f"[{elapsed:4d}s] " + " | ".join(parts) + " (rows in ClickHouse; frames approx.)"
        if line != self._last_line:
            print("\r" + line.ljust(110), end="", flush=True)
            self._last_line = line


def samples_dir() -> Path:
    return SAMPLES
