"""Replay: re-publish stored plate events, in time order, to a replay topic.

The ClickHouse event index (``plate_events``: topic/partition/offset of every row) selects which
records fall in the requested range; their original bytes are then re-read from the topic with
assign + seek (the local broker's time lookup is broken, so offsets never come from timestamps)
and produced again in event-time order, either as fast as possible or at the original pace
(scaled by ``speed``). Records the topic no longer holds (retention) are counted as missing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from platestream.kafka import make_consumer
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms
from services.api.publish import Publisher
from services.api.search import FAST_FINAL

logger = logging.getLogger(__name__)

INDEX_SQL = (
    "SELECT partition, offset, toUnixTimestamp64Milli(ts) AS ts_ms FROM plate_events FINAL "
    "WHERE ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC') "
    "{cameras} ORDER BY ts, event_id LIMIT {limit:UInt32}" + FAST_FINAL
)


@dataclass
class ReplayJob:
    """Progress of one replay, as reported to clients."""

    id: str
    since: int
    until: int
    cameras: list[str]
    target: str
    pace: str
    speed: float
    requested_by: str
    state: str = "queued"  # queued | reading | publishing | done | failed | cancelled
    total: int = 0
    read: int = 0
    published: int = 0
    missing: int = 0
    error: str | None = None
    created_at: int = field(default_factory=now_ms)
    finished_at: int | None = None

    def view(self) -> dict[str, Any]:
        return asdict(self)


class ReplayManager:
    """Runs replays in background threads; keeps the last jobs for progress queries."""

    def __init__(
        self, *, settings: CommonSettings, clickhouse: Any, publisher: Publisher, keep: int = 200
    ) -> None:
        self._settings = settings
        self._clickhouse = clickhouse
        self._publisher = publisher
        self._jobs: dict[str, ReplayJob] = {}
        self._cancel: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._keep = keep
        self.max_events = int(getattr(settings, "api_replay_max_events", 1_000_000))

    def get(self, job_id: str) -> ReplayJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def jobs(self) -> list[ReplayJob]:
        with self._lock:
            return list(self._jobs.values())

    def submit(
        self,
        *,
        since: int,
        until: int,
        cameras: list[str],
        target: str,
        pace: str,
        speed: float,
        requested_by: str,
    ) -> ReplayJob:
        job = ReplayJob(uuid.uuid4().hex, since, until, cameras, target, pace, speed, requested_by)
        cancel = threading.Event()
        with self._lock:
            self._jobs[job.id] = job
            self._cancel[job.id] = cancel
            while len(self._jobs) > self._keep:
                oldest = next(iter(self._jobs))
                self._jobs.pop(oldest)
                self._cancel.pop(oldest, None)
        thread = threading.Thread(
            target=self._run, args=(job, cancel), name=f"replay-{job.id[:8]}", daemon=True
        )
        self._threads.append(thread)
        thread.start()
        return job

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            ev = self._cancel.get(job_id)
        if ev is None:
            return False
        ev.set()
        return True

    def stop(self, timeout: float = 5.0) -> None:
        with self._lock:
            events = list(self._cancel.values())
        for ev in events:
            ev.set()
        for t in self._threads:
            t.join(timeout)

    # -- the work -------------------------------------------------------------------------
    def _run(self, job: ReplayJob, cancel: threading.Event) -> None:
        try:
            index = self._index(job)
            job.total = len(index)
            job.state = "reading"
            records = self._read(job, index, cancel)
            job.state = "publishing"
            self._publish(job, index, records, cancel)
            job.state = "cancelled" if cancel.is_set() else "done"
        except Exception as exc:  # the job reports the failure; the API process stays up
            logger.exception("replay %s failed", job.id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        finally:
            job.finished_at = now_ms()

    def _index(self, job: ReplayJob) -> list[tuple[int, int, int]]:
        params: dict[str, Any] = {"since": job.since, "until": job.until, "limit": self.max_events}
        cameras = ""
        if job.cameras:
            params["cameras"] = job.cameras
            cameras = "AND camera_id IN {cameras:Array(String)}"
        rows = self._clickhouse.query(
            INDEX_SQL.replace("{cameras}", cameras), parameters=params
        ).result_rows
        return [(int(p), int(o), int(t)) for p, o, t in rows]

    def _read(
        self, job: ReplayJob, index: list[tuple[int, int, int]], cancel: threading.Event
    ) -> dict[tuple[int, int], tuple[bytes | None, bytes]]:
        """Original (key, value) of every indexed record, read by partition from min to max offset."""
        from platestream import topics as catalogue

        topic = self._settings.topic(catalogue.PLATE_EVENTS.name)
        wanted: dict[int, set[int]] = {}
        for p, o, _t in index:
            wanted.setdefault(p, set()).add(o)
        out: dict[tuple[int, int], tuple[bytes | None, bytes]] = {}
        if not wanted:
            return out
        consumer = make_consumer(
            self._settings,
            f"platestream-api-replay-{job.id[:8]}",
            **{"enable.partition.eof": True, "isolation.level": "read_uncommitted"},
        )
        try:
            consumer.assign([TopicPartition(topic, p, min(offs)) for p, offs in wanted.items()])
            last = {p: max(offs) for p, offs in wanted.items()}
            open_parts = set(wanted)
            idle = 0
            while open_parts and not cancel.is_set() and idle < 40:
                msgs = consumer.consume(1000, 0.25)
                if not msgs:
                    idle += 1
                    continue
                idle = 0
                for msg in msgs:
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            open_parts.discard(int(msg.partition() or 0))
                        continue
                    p, o, value = int(msg.partition() or 0), int(msg.offset() or 0), msg.value()
                    if o in wanted[p] and value is not None:
                        out[(p, o)] = (msg.key(), value)
                        job.read += 1
                    if o >= last[p]:
                        open_parts.discard(p)
        finally:
            consumer.close()
        job.missing = len(index) - len(out)
        return out

    def _publish(
        self,
        job: ReplayJob,
        index: list[tuple[int, int, int]],
        records: dict[tuple[int, int], tuple[bytes | None, bytes]],
        cancel: threading.Event,
    ) -> None:
        headers: list[tuple[str, str | bytes | None]] = [
            ("x-platestream-replay-id", job.id.encode())
        ]
        start_wall = time.monotonic()
        first_ts = index[0][2] if index else 0
        producer = self._publisher._producer
        for p, o, ts in index:
            if cancel.is_set():
                return
            rec = records.get((p, o))
            if rec is None:
                continue
            if job.pace == "original":
                due = (ts - first_ts) / 1000 / max(job.speed, 1e-6)
                delay = due - (time.monotonic() - start_wall)
                if delay > 0 and cancel.wait(delay):
                    return
            while True:
                try:
                    producer.produce(job.target, key=rec[0], value=rec[1], headers=headers)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            job.published += 1
        producer.flush(30)
