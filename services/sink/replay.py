"""Replay and rebuild: re-consume a range of the event log into fresh ClickHouse tables.

A range is chosen by offset (per partition) or by time. The local broker's time lookup
(offsets_for_times) is broken, so a time range is turned into offsets through the event index
the projection keeps on every row (topic, partition, offset): min and max offset of the rows in
that time range, per partition. ``rebuild`` drops every projection and replays each topic from its
first offset. Replay uses its own consumer with assign() and never commits, so the live sink's
group is untouched.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from platestream.errors import BadInputError, SerdeError, SinkError
from platestream.kafka import make_consumer
from platestream.serde import AvroSerde
from services.sink import migrations
from services.sink.batch import not_a_record, position
from services.sink.rows import BY_TABLE, TABLES, Source, TableMap
from services.sink.settings import SinkSettings
from services.sink.writer import TableWriter, Unavailable

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Range:
    """Offsets [start, end] of one partition; end None = up to the end of the log."""

    topic: str
    partition: int
    start: int
    end: int | None

    def size_hint(self, high: int) -> int:
        last = self.end if self.end is not None else high - 1
        return max(0, last - self.start + 1)


@dataclass
class ReplayStats:
    records: int = 0
    inserted: int = 0
    skipped: int = 0  # outside the time range / camera, or undecodable (already dead-lettered live)
    rejected: int = 0
    per_table: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass(frozen=True)
class Filter:
    from_ms: int | None = None
    to_ms: int | None = None
    camera: str | None = None

    def keep(self, rec: dict[str, Any]) -> bool:
        ts = rec.get("ts")
        if self.from_ms is not None and (ts is None or ts < self.from_ms):
            return False
        if self.to_ms is not None and (ts is None or ts > self.to_ms):
            return False
        return not (self.camera is not None and rec.get("camera_id") != self.camera)


def select_tables(names: Iterable[str] | None, camera: str | None = None) -> tuple[TableMap, ...]:
    unknown = [n for n in (names or ()) if n not in BY_TABLE]
    if unknown:
        raise SinkError(f"unknown tables {unknown}; known: {', '.join(BY_TABLE)}")
    chosen = tuple(BY_TABLE[n] for n in names) if names else TABLES
    if camera is not None:  # only tables whose records name a camera can be filtered by camera
        chosen = tuple(
            t for t in chosen if t.table not in ("alert_deliveries", "corrections", "audit_log")
        )
    return chosen


def partitions_of(consumer: Consumer, topic: str) -> list[int]:
    meta = consumer.list_topics(topic, timeout=10)
    info = meta.topics.get(topic)
    if info is None or info.error is not None:
        raise SinkError(f"topic {topic} not found")
    return sorted(info.partitions)


def ranges_by_offset(
    settings: SinkSettings,
    consumer: Consumer,
    tables: Iterable[TableMap],
    from_offset: int | None,
    to_offset: int | None,
    partitions: Iterable[int] | None = None,
) -> list[Range]:
    """The same offset range on every partition of each table's topic (None: log start / end)."""
    out: list[Range] = []
    wanted = set(partitions) if partitions is not None else None
    for t in tables:
        topic = settings.topic(t.topic.name)
        for p in partitions_of(consumer, topic):
            if wanted is not None and p not in wanted:
                continue
            low, _high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
            start = max(low, from_offset) if from_offset is not None else low
            out.append(Range(topic, p, start, to_offset))
    return out


def ranges_by_time(
    client: Any,
    database: str,
    settings: SinkSettings,
    tables: Iterable[TableMap],
    from_ms: int,
    to_ms: int,
    camera: str | None = None,
) -> list[Range]:
    """Offsets that hold the records of [from_ms, to_ms] (and camera), found in the event index."""
    out: list[Range] = []
    for t in tables:
        topic = settings.topic(t.topic.name)
        where = (
            "topic = {topic:String} AND ts >= fromUnixTimestamp64Milli({a:Int64}, 'UTC') "
            "AND ts <= fromUnixTimestamp64Milli({b:Int64}, 'UTC')"
        )
        params: dict[str, Any] = {"topic": topic, "a": from_ms, "b": to_ms}
        if camera is not None:
            where += " AND camera_id = {camera:String}"
            params["camera"] = camera
        rows = client.query(
            f"SELECT partition, min(offset), max(offset) FROM `{database}`.`{t.table}` WHERE {where} "
            "GROUP BY partition ORDER BY partition",
            parameters=params,
        ).result_rows
        out.extend(Range(topic, int(p), int(lo), int(hi)) for p, lo, hi in rows)
    return out


class Replayer:
    """Reads ranges with assign() (no group commits) and inserts them through TableWriters."""

    def __init__(
        self,
        *,
        settings: SinkSettings,
        consumer: Consumer,
        writers: dict[str, TableWriter],
        serde: AvroSerde,
        stop: threading.Event | None = None,
        batch_rows: int = 20_000,
        idle_s: float = 5.0,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.writers = writers
        self.serde = serde
        self.stop = stop or threading.Event()
        self.batch_rows = batch_rows
        self.idle_s = idle_s
        self.by_topic = {settings.topic(t.topic.name): t for t in TABLES}

    def run(
        self, ranges: list[Range], flt: Filter, progress: Callable[[int, int], None] | None = None
    ) -> ReplayStats:
        stats = ReplayStats()
        t0 = time.monotonic()
        if not ranges:
            return stats
        highs = {}
        for r in ranges:
            _low, high = self.consumer.get_watermark_offsets(
                TopicPartition(r.topic, r.partition), timeout=10
            )
            highs[(r.topic, r.partition)] = high
        total = sum(r.size_hint(highs[(r.topic, r.partition)]) for r in ranges)
        if progress:
            progress(0, total)
        # An open range ends at the high watermark seen now. The local broker reports it as the
        # last batch's base offset + 1, so records of that last batch may lie beyond it: after
        # the ends are reached, a short drain takes whatever still arrives on open ranges.
        ends: dict[tuple[str, int], int] = {}
        soft: set[tuple[str, int]] = set()
        ranges_end = {(r.topic, r.partition): r.end for r in ranges}
        for r in ranges:
            key = (r.topic, r.partition)
            if r.end is None or r.end >= highs[key] - 1:
                ends[key] = highs[key] - 1
                soft.add(key)
            else:
                ends[key] = r.end
        open_left = {
            (r.topic, r.partition) for r in ranges if ends[(r.topic, r.partition)] >= r.start
        }
        self.consumer.assign([TopicPartition(r.topic, r.partition, r.start) for r in ranges])
        buffers: dict[str, tuple[list[dict[str, Any]], list[Source]]] = {}
        last_msg = time.monotonic()
        draining = False
        while not self.stop.is_set():
            if not open_left and not draining:
                if not soft:
                    break
                draining, last_msg = True, time.monotonic()
            msgs = self.consumer.consume(num_messages=5000, timeout=0.2)
            if not msgs:
                if time.monotonic() - last_msg >= (1.0 if draining else self.idle_s):
                    break
                continue
            last_msg = time.monotonic()
            for msg in msgs:
                if not_a_record(msg):
                    continue
                topic, partition, offset = position(msg)
                key = (topic, partition)
                hard_end = ranges_end.get(key)
                if hard_end is not None and offset > hard_end:
                    open_left.discard(key)
                    continue
                if key not in soft and key not in open_left:
                    continue
                if offset >= ends[key]:
                    open_left.discard(key)
                self._take(msg, flt, buffers, stats)
            if progress:
                progress(stats.records, total)
        for table in list(buffers):
            self._flush(table, buffers, stats)
        stats.seconds = time.monotonic() - t0
        return stats

    def _take(
        self,
        msg: Any,
        flt: Filter,
        buffers: dict[str, tuple[list[dict[str, Any]], list[Source]]],
        stats: ReplayStats,
    ) -> None:
        stats.records += 1
        topic, partition, offset = position(msg)
        mapping = self.by_topic[topic]
        try:
            _name, rec = self.serde.decode_with_name(msg.value())
            mapping.validate(rec)
        except (SerdeError, BadInputError):
            stats.skipped += 1
            return
        if not flt.keep(rec):
            stats.skipped += 1
            return
        recs, srcs = buffers.setdefault(mapping.table, ([], []))
        recs.append(rec)
        srcs.append(Source(topic, partition, offset))
        if len(recs) >= self.batch_rows:
            self._flush(mapping.table, buffers, stats)

    def _flush(
        self,
        table: str,
        buffers: dict[str, tuple[list[dict[str, Any]], list[Source]]],
        stats: ReplayStats,
    ) -> None:
        recs, srcs = buffers.pop(table, ([], []))
        if not recs:
            return
        delay = 0.5
        while True:
            try:
                result = self.writers[table].insert(recs, srcs)
                break
            except Unavailable as exc:
                logger.warning(
                    "ClickHouse unavailable during replay (%s); retrying in %.1fs", exc, delay
                )
                if self.stop.wait(delay):
                    raise
                delay = min(delay * 2, 10.0)
        stats.inserted += result.inserted
        stats.rejected += len(result.rejected)
        stats.per_table[table] = stats.per_table.get(table, 0) + result.inserted


def replay_consumer(settings: SinkSettings) -> Consumer:
    return make_consumer(
        settings,
        f"{settings.topic_prefix}platestream-replay-{uuid.uuid4().hex[:8]}",
        **{"enable.partition.eof": False},
    )


def prepare_target(client: Any, settings: SinkSettings, database: str, *, drop: bool) -> None:
    """Fresh tables for the replay: drop the projections first when asked, then migrate."""
    if drop:
        migrations.drop_projections(client, database)
    migrations.migrate(client, settings, database=database)
