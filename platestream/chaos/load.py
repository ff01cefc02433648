"""The load of the fault suite: pushes through the real ingest HTTP path, and a flaky webhook."""

from __future__ import annotations

import base64
import io
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from platestream.bench.load import plate_for
from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)

DEVICE_SECRET = "chaos-device-secret"

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
