"""The sink's buffer: decoded records per table, and the offsets they cover, until one flush."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from confluent_kafka import KafkaError, Message, TopicPartition

from services.sink.rows import Source, TableMap

logger = logging.getLogger(__name__)


@dataclass
class SinkStats:
    """What the ClickHouse loop has done so far (metrics, benchmarks, tests)."""

    consumed: int = 0
    inserted: int = 0
    dead_lettered: int = 0
    batches: int = 0
    outages: int = 0
    gaps: int = 0  # offset ranges the consumer skipped (read back before going on)
    erased: int = 0  # records of an erased plate or event, not stored (services/sink/erasure.py)
    passed_through: int = 0  # inserted from their bytes by ClickHouse (passthrough.py)
    fallbacks: int = 0  # pass-through batches ClickHouse refused, then decoded here
    per_table: dict[str, int] = field(default_factory=dict)
    last_flush_ms: float = 0.0


def not_a_record(msg: Message) -> bool:
    """True for what a consume returns besides records: a partition's end (silent) or a consumer
    error (logged); the sink's loops skip both."""
    err = msg.error()
    if err is None:
        return False
    if err.code() != KafkaError._PARTITION_EOF:
        logger.warning("consumer error: %s", err)
    return True


def position(msg: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed record (never None for a record without error)."""
    return msg.topic() or "", msg.partition() or 0, msg.offset() or 0


class ObjectWork(Protocol):
    """One object operation of an S3 loop (a put, a tagging) and the record it came from."""

    @property
    def where(self) -> str: ...  # topic[partition]@offset, for logs

    @property
    def msg(self) -> Any: ...  # the consumed record, or None


W = TypeVar("W", bound=ObjectWork)


def dead_letter_refused(
    failed: list[tuple[W, BaseException]], dlq: Any, stats: Any
) -> list[tuple[W, BaseException]]:
    """Dead-letter the records whose object keys the client refused before sending (ValueError,
    TypeError: retrying cannot help), once per record; the rest are the store's failures, to retry."""
    retry: list[tuple[W, BaseException]] = []
    done: set[str] = set()
    for work, exc in failed:
        if not isinstance(exc, ValueError | TypeError) or work.msg is None:
            retry.append((work, exc))
        elif work.where not in done:
            done.add(work.where)
            dlq.record(work.msg, exc)
            stats.dead_lettered += 1
    return retry


def retry_object_work(
    loop: Any,
    pending: list[W],
    work: Callable[[W], Any],
    what: str,
    on_failed: Callable[[list[tuple[W, BaseException]]], None] | None = None,
) -> tuple[bool, int]:
    """Run ``work`` on every item in ``loop``'s thread pool until each is done or dead-lettered.

    ``loop`` is an S3 loop of the sink (``settings``, ``stats``, ``dlq``, ``consumer``, ``stop``,
    ``_pool``). While the store fails, every assigned partition is paused (so nothing else is
    fetched) and the failures are retried with exponential backoff. Returns (False, done) when
    ``stop`` was set first (nothing may be committed), else (True, done).
    """
    delay = loop.settings.sink_backoff_initial_s
    paused: list[TopicPartition] = []
    done = 0
    while pending:
        futures = [(w, loop._pool.submit(work, w)) for w in pending]
        failed = [(w, exc) for w, f in futures if (exc := f.exception()) is not None]
        done += len(futures) - len(failed)
        failed = dead_letter_refused(failed, loop.dlq, loop.stats)
        pending = [w for w, _ in failed]
        if not pending:
            break
        if not paused:
            loop.stats.outages += 1
            paused = loop.consumer.assignment()
            loop.consumer.pause(paused)
            logger.warning(
                "S3 %s failing (%s at %s): paused, retrying %d",
                what,
                failed[0][1],
                failed[0][0].where,
                len(pending),
            )
        if loop.stop.wait(delay):
            return False, done
        delay = min(delay * 2, loop.settings.sink_backoff_max_s)
        if on_failed is not None:
            on_failed(failed)
    if paused:
        loop.consumer.resume(paused)
        logger.info("S3 is back: resumed %d partitions", len(paused))
    return True, done


def commit_after_objects(loop: Any, offsets: dict[tuple[str, int], int], redo: str) -> None:
    """Flush dead letters, then commit what the batch consumed; a failed commit only means the
    batch comes again (``redo`` says why that is harmless)."""
    if loop.dlq.count:
        loop.producer.flush(10.0)
    if offsets:
        try:
            loop.consumer.commit(
                offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                asynchronous=False,
            )
        except Exception as exc:
            logger.warning("commit failed (%s); %s", exc, redo)


@dataclass
class TableBuffer:
    mapping: TableMap
    records: list[dict[str, Any]] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    messages: list[Message] = field(
        default_factory=list
    )  # kept for dead-lettering the original bytes
    # records not decoded here, by schema id: ClickHouse decodes them (passthrough.py)
    raw: dict[int, list[Message]] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)  # its first record

    def size(self) -> int:
        return len(self.records) + sum(len(m) for m in self.raw.values())


class Batch:
    """Records waiting for one insert per table; bounded by size and age by the caller."""

    def __init__(self) -> None:
        self.tables: dict[str, TableBuffer] = {}
        self.next_offsets: dict[tuple[str, int], int] = {}  # what to commit once flushed
        self.size = 0
        self.started: float | None = None
        self.rejected: list[tuple[Message, BaseException]] = []  # rows ClickHouse refused
        self.erased = 0  # records left out by the erasure ledger while the batch was in flight
        # held-back buffers (hold_back): the moment their batch is counted from, still to come
        self.held_from: float | None = None

    def add(self, mapping: TableMap, rec: dict[str, Any], msg: Message) -> None:
        buf = self.tables.get(mapping.table)
        if buf is None:
            buf = self.tables[mapping.table] = TableBuffer(mapping)
        topic, partition, offset = position(msg)
        buf.records.append(rec)
        buf.sources.append(Source(topic, partition, offset))
        buf.messages.append(msg)
        self.size += 1
        if self.started is None:
            self.started = time.monotonic()
        key = (topic, partition)
        if offset >= self.next_offsets.get(key, 0):
            self.next_offsets[key] = offset + 1

    def hold_back(
        self, tables: set[str], topics: dict[str, str], max_age_s: float, batch_age_s: float
    ) -> Batch:
        """A new batch holding this batch's buffers of ``tables`` younger than ``max_age_s`` and
        the offsets of their topics (``topics``: topic -> table; they are committed when those
        rows are inserted), so that they go into a later, larger insert. Its age reaches
        ``batch_age_s`` when the oldest of them reaches ``max_age_s``, or sooner when other
        records come."""
        later = Batch()
        now = time.monotonic()
        for table in list(self.tables):
            buf = self.tables[table]
            if table not in tables or now - buf.started >= max_age_s:
                continue
            del self.tables[table]
            later.tables[table] = buf
            n = buf.size()
            self.size -= n
            later.size += n
            for key in [k for k in self.next_offsets if topics.get(k[0]) == table]:
                later.next_offsets[key] = self.next_offsets.pop(key)
            due = buf.started + max_age_s - batch_age_s
            later.held_from = due if later.held_from is None else min(later.held_from, due)
        return later

    def add_raw(self, mapping: TableMap, sid: int, msg: Message) -> None:
        """Buffer a record as it came, for the pass-through insert."""
        buf = self.tables.get(mapping.table)
        if buf is None:
            buf = self.tables[mapping.table] = TableBuffer(mapping)
        buf.raw.setdefault(sid, []).append(msg)
        self.size += 1
        self.mark(msg)

    def mark(self, msg: Message) -> None:
        """Count an offset as handled (also for records that were dead-lettered, not buffered)."""
        if self.started is None:
            self.started = time.monotonic()
        topic, partition, offset = position(msg)
        key = (topic, partition)
        if offset >= self.next_offsets.get(key, 0):
            self.next_offsets[key] = offset + 1

    def age(self) -> float:
        since = [t for t in (self.started, self.held_from) if t is not None]
        return time.monotonic() - min(since) if since else 0.0

    def empty(self) -> bool:
        return not self.next_offsets
