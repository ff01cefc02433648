"""Replay: re-publish stored plate events, in time order, to a replay topic.

The ClickHouse event index (``plate_events``: topic/partition/offset of every row) selects which
records fall in the requested range; their original bytes are then re-read from the topic with
assign + seek (the local broker's time lookup is broken, so offsets never come from timestamps)
and produced again in event-time order, either as fast as possible or at the original pace
(scaled by ``speed``). Records the topic no longer holds (retention) are counted as missing.

A replay works a page at a time (``api_replay_page_rows`` index rows, keyset-paginated on
``(ts, event_id)``): read that page's records from the topic, publish them, forget them. So its
memory is one page of index rows and records, whatever the range holds, and ``max_events`` caps
the rows in all. Each job holds a slot (``services/api/slots.py``) from submit to its end: one
user runs ``api_replay_max_per_user`` replays at once and the process ``api_replay_max_running``;
past either, ``submit`` raises ``Busy`` (429 with Retry-After).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any

from confluent_kafka import KafkaError, TopicPartition

from platestream.kafka import make_consumer
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms
from services.api.publish import Publisher
from services.api.search_sql import FAST_FINAL
from services.api.slots import Slot, Slots

logger = logging.getLogger(__name__)

_RANGE = (
    "ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
    "AND ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC') {cameras}"
)
COUNT_SQL = "SELECT count() FROM plate_events FINAL WHERE " + _RANGE + FAST_FINAL
# one page after the keyset (after_ts, after_id); the first page starts below every key
PAGE_SQL = (
    "SELECT partition, offset, toUnixTimestamp64Milli(ts) AS ts_ms, event_id FROM plate_events FINAL "
    "WHERE " + _RANGE + " AND (ts > fromUnixTimestamp64Milli({after_ts:Int64}, 'UTC') "
    "OR (ts = fromUnixTimestamp64Milli({after_ts:Int64}, 'UTC') AND event_id > {after_id:String})) "
    "ORDER BY ts, event_id LIMIT {limit:UInt32}" + FAST_FINAL
)
IndexRow = tuple[int, int, int]  # partition, offset, ts (ms)
RETRY_AFTER_S = 30


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
        self.page_rows = int(getattr(settings, "api_replay_page_rows", 2000))
        self.slots = Slots(
            "replays",
            per_user=int(getattr(settings, "api_replay_max_per_user", 1)),
            per_process=int(getattr(settings, "api_replay_max_running", 4)),
            retry_after_s=RETRY_AFTER_S,
        )
        self.peak_page_records = 0  # most records held at once by any replay (for tests, metrics)

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
        """Start a replay; ``Busy`` (429) when the user or the process runs its most already."""
        slot = self.slots.acquire(requested_by)
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
            target=self._run, args=(job, cancel, slot), name=f"replay-{job.id[:8]}", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()] + [thread]
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
    def _run(self, job: ReplayJob, cancel: threading.Event, slot: Slot) -> None:
        consumer = None
        try:
            job.total = min(self._count(job), self.max_events)
            job.state = "reading"
            pacer = _Pacer(job, cancel)
            for page in self._pages(job, cancel):
                if consumer is None:
                    consumer = make_consumer(
                        self._settings,
                        f"platestream-api-replay-{job.id[:8]}",
                        **{"enable.partition.eof": True, "isolation.level": "read_uncommitted"},
                    )
                records = self._read(job, consumer, page, cancel)
                self.peak_page_records = max(self.peak_page_records, len(records))
                job.state = "publishing"
                self._publish(job, page, records, cancel, pacer)
                del records
            if not cancel.is_set():
                self._publisher._producer.flush(30)
            job.state = "cancelled" if cancel.is_set() else "done"
        except Exception as exc:  # the job reports the failure; the API process stays up
            logger.exception("replay %s failed", job.id)
            job.state, job.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        finally:
            if consumer is not None:
                consumer.close()
            job.finished_at = now_ms()
            slot.release()

    def _params(self, job: ReplayJob) -> tuple[str, dict[str, Any]]:
        params: dict[str, Any] = {"since": job.since, "until": job.until}
        if not job.cameras:
            return "", params
        params["cameras"] = job.cameras
        return "AND camera_id IN {cameras:Array(String)}", params

    def _count(self, job: ReplayJob) -> int:
        cameras, params = self._params(job)
        rows = self._clickhouse.query(
            COUNT_SQL.replace("{cameras}", cameras), parameters=params
        ).result_rows
        return int(rows[0][0]) if rows else 0

    def _pages(self, job: ReplayJob, cancel: threading.Event) -> Iterator[list[IndexRow]]:
        """Index rows in (ts, event_id) order, ``page_rows`` at a time, ``max_events`` in all."""
        cameras, params = self._params(job)
        sql = PAGE_SQL.replace("{cameras}", cameras)
        after_ts, after_id, left = job.since - 1, "", self.max_events
        while left > 0 and not cancel.is_set():
            params.update(after_ts=after_ts, after_id=after_id, limit=min(self.page_rows, left))
            rows = self._clickhouse.query(sql, parameters=params).result_rows
            if not rows:
                return
            yield [(int(p), int(o), int(t)) for p, o, t, _e in rows]
            after_ts, after_id = int(rows[-1][2]), str(rows[-1][3])
            left -= len(rows)
            if len(rows) < params["limit"]:
                return

    def _read(
        self, job: ReplayJob, consumer: Any, page: list[IndexRow], cancel: threading.Event
    ) -> dict[tuple[int, int], tuple[bytes | None, bytes]]:
        """Original (key, value) of a page's records, read by partition from min to max offset."""
        from platestream import topics as catalogue

        topic = self._settings.topic(catalogue.PLATE_EVENTS.name)
        wanted: dict[int, set[int]] = {}
        for p, o, _t in page:
            wanted.setdefault(p, set()).add(o)
        out: dict[tuple[int, int], tuple[bytes | None, bytes]] = {}
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
                if p not in open_parts:
                    continue
                if o in wanted[p] and value is not None:
                    out[(p, o)] = (msg.key(), value)
                    job.read += 1
                if o >= last[p]:
                    open_parts.discard(p)
        consumer.unassign()
        job.missing += len(page) - len(out)
        return out

    def _publish(
        self,
        job: ReplayJob,
        page: list[IndexRow],
        records: dict[tuple[int, int], tuple[bytes | None, bytes]],
        cancel: threading.Event,
        pacer: _Pacer,
    ) -> None:
        headers: list[tuple[str, str | bytes | None]] = [
            ("x-platestream-replay-id", job.id.encode())
        ]
        producer = self._publisher._producer
        for p, o, ts in page:
            if cancel.is_set():
                return
            rec = records.get((p, o))
            if rec is None:
                continue
            if not pacer.wait(ts):
                return
            while True:
                try:
                    producer.produce(job.target, key=rec[0], value=rec[1], headers=headers)
                    break
                except BufferError:
                    producer.poll(0.1)
            producer.poll(0)
            job.published += 1


class _Pacer:
    """With pace=original, waits until a record's time (scaled by speed) since the first one."""

    def __init__(self, job: ReplayJob, cancel: threading.Event) -> None:
        self._job = job
        self._cancel = cancel
        self._start = time.monotonic()
        self._first_ts: int | None = None

    def wait(self, ts: int) -> bool:
        """False when the replay was cancelled while waiting."""
        if self._job.pace != "original":
            return not self._cancel.is_set()
        if self._first_ts is None:
            self._first_ts, self._start = ts, time.monotonic()
        due = (ts - self._first_ts) / 1000 / max(self._job.speed, 1e-6)
        delay = due - (time.monotonic() - self._start)
        return not (delay > 0 and self._cancel.wait(delay))
