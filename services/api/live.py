"""The live feed: plate events and alerts as they arrive, fanned out to WebSocket/SSE clients.

One consumer thread per API process assigns every partition of the plate-event and alert topics
at their end offsets (no consumer group: every API process sees everything). The local broker's
high watermark can lag behind the true end, so records stamped before the hub started are also
dropped. Each client has a bounded queue: when a slow client's queue is full the oldest message is
dropped and counted, so one slow browser never holds the others back or grows memory. A process
takes at most ``max_clients`` subscribers and one user at most ``max_per_owner`` (LiveFull past
either), so one account cannot take the feed from everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections import deque
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from platestream import topics as catalogue
from platestream.errors import PlatestreamError, SerdeError
from platestream.kafka import make_consumer
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)

MAX_CLIENTS = 500
MAX_PER_OWNER = 5


class LiveFull(PlatestreamError):
    """No room for another subscriber (of this user, or of this process)."""


EVENT_FIELDS = (
    "event_id",
    "version",
    "camera_id",
    "camera_name",
    "site",
    "zone",
    "plate",
    "confidence",
    "ts",
    "direction",
    "vehicle_type",
    "vehicle_color",
    "watchlist_hits",
    "access_status",
    "read_count",
)
ALERT_FIELDS = (
    "alert_id",
    "entry_id",
    "list_id",
    "list_kind",
    "reason",
    "priority",
    "event_id",
    "camera_id",
    "camera_name",
    "site",
    "zone",
    "plate",
    "confidence",
    "ts",
    "match_type",
    "early",
)


def to_message(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """The JSON a client receives (no image bytes; images are fetched through the event detail)."""
    fields = EVENT_FIELDS if kind == "event" else ALERT_FIELDS
    data = {k: record.get(k) for k in fields if k in record}
    crop = record.get("best_crop") if kind == "event" else None
    if crop and crop.get("s3_key"):
        data["crop_s3_key"] = crop["s3_key"]
    return {"type": kind, "data": data}


class LiveClient:
    """One subscriber: its filter and its bounded queue (drop oldest when full)."""

    def __init__(
        self,
        *,
        maxsize: int,
        loop: asyncio.AbstractEventLoop,
        cameras: set[str] | None = None,
        watchlist: str | None = None,
        kinds: set[str] | None = None,
        owner: str = "",
    ) -> None:
        self.id = uuid.uuid4().hex[:12]
        self.owner = owner
        self.cameras = cameras or None
        self.watchlist = watchlist or None
        self.kinds = kinds or {"event", "alert"}
        self.queue: deque[dict[str, Any]] = deque(maxlen=maxsize)
        self.dropped = 0
        self._lock = threading.Lock()
        self._loop = loop
        self._ready = asyncio.Event()

    def wants(self, msg: dict[str, Any]) -> bool:
        data = msg["data"]
        if msg["type"] not in self.kinds:
            return False
        if self.cameras and data.get("camera_id") not in self.cameras:
            return False
        if self.watchlist:
            if msg["type"] == "alert":
                return self.watchlist in ("*", data.get("list_id"))
            hits = data.get("watchlist_hits") or []
            return bool(hits) if self.watchlist == "*" else self.watchlist in hits
        return True

    def offer(self, msg: dict[str, Any]) -> None:
        """Called from the hub thread."""
        with self._lock:
            if len(self.queue) == self.queue.maxlen:
                self.dropped += 1
            self.queue.append(msg)
        with contextlib.suppress(RuntimeError):  # the client's loop is closed
            self._loop.call_soon_threadsafe(self._ready.set)

    async def get(self, timeout: float) -> dict[str, Any] | None:
        """The next message, or None after ``timeout`` seconds (the caller sends a keep-alive)."""
        with self._lock:
            if self.queue:
                return self.queue.popleft()
            self._ready.clear()
        try:
            await asyncio.wait_for(self._ready.wait(), timeout)
        except TimeoutError:
            return None
        with self._lock:
            return self.queue.popleft() if self.queue else None


class LiveHub:
    """The consumer thread and the set of connected clients."""

    def __init__(
        self, *, settings: CommonSettings, serde: AvroSerde, metrics: Any = None, maxsize: int = 256
    ) -> None:
        self._settings = settings
        self._serde = serde
        self._metrics = metrics
        self.maxsize = int(getattr(settings, "api_live_queue", maxsize))
        self.max_clients = int(getattr(settings, "api_live_max_clients", MAX_CLIENTS))
        self.max_per_owner = int(getattr(settings, "api_live_max_per_user", MAX_PER_OWNER))
        self._clients: dict[str, LiveClient] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.started_ms = 0
        self.assigned = threading.Event()
        self.delivered = 0
        self.skipped_old = 0

    def subscribe(self, *, owner: str = "", **kwargs: Any) -> LiveClient:
        """A new subscriber of ``owner`` (the user or key); LiveFull when there is no room."""
        client = LiveClient(
            maxsize=self.maxsize, loop=asyncio.get_running_loop(), owner=owner, **kwargs
        )
        with self._lock:
            if len(self._clients) >= self.max_clients:
                raise LiveFull(f"the live feed has its {self.max_clients} subscribers")
            mine = sum(1 for c in self._clients.values() if c.owner == owner)
            if mine >= self.max_per_owner:
                raise LiveFull(f"{owner} already has {mine} live feeds open")
            self._clients[client.id] = client
        if self._metrics is not None:
            self._metrics.live_clients.inc()
        return client

    def unsubscribe(self, client: LiveClient) -> None:
        with self._lock:
            self._clients.pop(client.id, None)
        if self._metrics is not None:
            self._metrics.live_clients.dec()
            if client.dropped:
                self._metrics.live_dropped.inc(client.dropped)

    def publish(self, msg: dict[str, Any]) -> None:
        with self._lock:
            clients = list(self._clients.values())
        for client in clients:
            if client.wants(msg):
                client.offer(msg)
                self.delivered += 1

    def start(self) -> None:
        self.started_ms = now_ms()
        self._thread = threading.Thread(target=self._run, name="live-hub", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        s = self._settings
        kinds = {
            s.topic(catalogue.PLATE_EVENTS.name): "event",
            s.topic(catalogue.ALERTS.name): "alert",
        }
        consumer = make_consumer(
            s,
            f"platestream-api-live-{uuid.uuid4().hex[:8]}",
            **{"isolation.level": "read_uncommitted"},
        )
        try:
            assignment = []
            meta = consumer.list_topics(timeout=10)
            for topic in kinds:
                if topic not in meta.topics:
                    logger.warning("live: topic %s does not exist; not following it", topic)
                    continue
                for p in meta.topics[topic].partitions:
                    _low, high = consumer.get_watermark_offsets(
                        TopicPartition(topic, p), timeout=10
                    )
                    assignment.append(TopicPartition(topic, p, max(high, 0)))
            consumer.assign(assignment)
            self.assigned.set()
            while not self._stop.is_set():
                msg = consumer.poll(0.25)
                if msg is None:
                    continue
                err = msg.error()
                if err is not None:
                    if err.code() != KafkaError._PARTITION_EOF:
                        logger.warning("live: %s", err)
                    continue
                _ts_type, ts = msg.timestamp()
                if ts and ts < self.started_ms - 1000:
                    self.skipped_old += 1  # re-delivered by a broker whose high watermark lags
                    continue
                try:
                    record = self._serde.decode(msg.value())
                except SerdeError as exc:
                    logger.warning(
                        "live: skipping %s[%s]@%s: %s",
                        msg.topic(),
                        msg.partition(),
                        msg.offset(),
                        exc,
                    )
                    continue
                self.publish(to_message(kinds[str(msg.topic())], record))
        except Exception:
            logger.exception("live hub stopped")
        finally:
            consumer.close()
