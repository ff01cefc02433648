"""The ClickHouse projection: event topics -> tables, exactly once in the table.

At-least-once delivery plus idempotent tables: offsets are committed only after the insert of
every record they cover succeeded (or the record went to the dead-letter topic); a retried batch
carries the same insert deduplication token; a record delivered twice (a restart after a crash,
an upstream retry) collapses on its id in the ReplacingMergeTree (count with FINAL or argMax).
When ClickHouse is down the consumer pauses its partitions, keeps the batch and retries with
backoff; nothing is dropped and the process does not crash.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import Consumer, KafkaError, Message, Producer, TopicPartition

from platestream.dlq import DeadLetters
from platestream.errors import BadInputError, SerdeError
from platestream.serde import AvroSerde
from services.sink.batch import Batch
from services.sink.rows import TABLES, TableMap
from services.sink.settings import SinkSettings
from services.sink.writer import TableWriter, Unavailable

logger = logging.getLogger(__name__)


@dataclass
class SinkStats:
    consumed: int = 0
    inserted: int = 0
    dead_lettered: int = 0
    batches: int = 0
    outages: int = 0
    per_table: dict[str, int] = field(default_factory=dict)
    last_flush_ms: float = 0.0


def event_topics(
    settings: SinkSettings, tables: tuple[TableMap, ...] = TABLES
) -> dict[str, TableMap]:
    """Full topic name (with prefix) -> table mapping."""
    return {settings.topic(t.topic.name): t for t in tables}


class ClickHouseSink:
    """Consumes the event topics and inserts them into ClickHouse in size- and time-bounded batches."""

    def __init__(
        self,
        *,
        settings: SinkSettings,
        consumer: Consumer,
        writers: dict[str, TableWriter],
        serde: AvroSerde,
        dead_letters: DeadLetters,
        producer: Producer,
        stop: threading.Event,
        commit: bool = True,
        on_flush: Callable[[SinkStats], None] | None = None,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.writers = writers  # table name -> writer
        self.serde = serde
        self.dlq = dead_letters
        self.producer = producer  # the dead letters' producer, flushed before each commit
        self._dlq_flushed = 0
        self.stop = stop
        self.commit_offsets = commit
        self.on_flush = on_flush
        self.topics = event_topics(settings)
        self.stats = SinkStats()
        self.batch = Batch()
        self._paused: list[TopicPartition] = []

    # -- consumer callbacks -------------------------------------------------------------
    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("assigned %d partitions", len(partitions))
        self._paused = []

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Flush what we hold for the partitions we lose; if we cannot, drop it (it is re-delivered)."""
        if self.batch.empty():
            return
        try:
            self._flush_once()
        except Unavailable as exc:
            logger.warning(
                "revoked while ClickHouse is unavailable (%s): %d buffered records will be re-delivered",
                exc,
                self.batch.size,
            )
            self.batch = Batch()

    # -- the loop -----------------------------------------------------------------------
    def subscribe(self) -> None:
        self.consumer.subscribe(
            list(self.topics), on_assign=self.on_assign, on_revoke=self.on_revoke
        )

    def run(self) -> None:
        self.subscribe()
        max_rows = self.settings.sink_batch_rows
        max_age = self.settings.sink_batch_ms / 1000.0
        logger.info(
            "sink running: %d topics -> %s, batches of %d rows / %d ms",
            len(self.topics),
            self.settings.clickhouse_database,
            max_rows,
            self.settings.sink_batch_ms,
        )
        while not self.stop.is_set():
            timeout = 0.1 if self.batch.empty() else max(0.0, min(0.1, max_age - self.batch.age()))
            msgs = self.consumer.consume(num_messages=min(5000, max_rows), timeout=timeout)
            for msg in msgs:
                self.handle(msg)
            if not self.batch.empty() and (
                self.batch.size >= max_rows or self.batch.age() >= max_age
            ):
                self.flush()
        if not self.batch.empty():
            try:
                self._flush_once()
            except Unavailable as exc:
                logger.warning(
                    "stopping with %d records unflushed (%s); they will be re-delivered",
                    self.batch.size,
                    exc,
                )

    def handle(self, msg: Message) -> None:
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                logger.warning("consumer error: %s", err)
            return
        self.stats.consumed += 1
        mapping = self.topics.get(msg.topic() or "")
        if mapping is None:  # not ours (cannot happen with subscribe); skip but count the offset
            self.batch.mark(msg)
            return
        try:
            name, rec = self.serde.decode_with_name(msg.value())
            if name != mapping.schema:
                raise SerdeError(f"record of schema {name} on a {mapping.schema} topic")
            mapping.validate(rec)
        except (SerdeError, BadInputError) as exc:
            self._dead_letter(msg, exc)
            self.batch.mark(msg)
            return
        self.batch.add(mapping, rec, msg)

    def _dead_letter(self, msg: Message, exc: BaseException) -> None:
        self.dlq.record(msg, exc)
        self.stats.dead_lettered += 1

    # -- flushing -----------------------------------------------------------------------
    def flush(self) -> None:
        """Insert the batch, retrying with backoff while ClickHouse is unavailable; then commit."""
        delay = self.settings.sink_backoff_initial_s
        while True:
            try:
                self._flush_once()
                if self._paused:
                    self.consumer.resume(self._paused)
                    logger.info("ClickHouse is back: resumed %d partitions", len(self._paused))
                    self._paused = []
                return
            except Unavailable as exc:
                if not self._paused:
                    self.stats.outages += 1
                    self._paused = self.consumer.assignment()
                    self.consumer.pause(self._paused)
                    logger.warning(
                        "ClickHouse unavailable (%s): paused %d partitions, holding %d records",
                        exc,
                        len(self._paused),
                        self.batch.size,
                    )
                raise_stop = self.stop.wait(delay)
                # keep the group membership alive; prefetched records join the held batch
                for msg in self.consumer.consume(num_messages=1000, timeout=0):
                    self.handle(msg)
                if raise_stop:
                    return
                delay = min(delay * 2, self.settings.sink_backoff_max_s)

    def _flush_once(self) -> None:
        batch = self.batch
        t0 = time.monotonic()
        for table, buf in batch.tables.items():
            if not buf.records:
                continue
            result = self.writers[table].insert(buf.records, buf.sources)
            for index, exc in result.rejected:
                self._dead_letter(buf.messages[index], exc)
            # Done with this table: a retry after a later table fails must not insert it again.
            self.stats.inserted += result.inserted
            self.stats.per_table[table] = self.stats.per_table.get(table, 0) + result.inserted
            buf.records, buf.sources, buf.messages = [], [], []
        if self.dlq.count != self._dlq_flushed:
            remaining = self.producer.flush(10.0)
            if remaining:
                raise Unavailable(f"{remaining} dead letters not acknowledged by the broker")
            self._dlq_flushed = self.dlq.count
        if self.commit_offsets and batch.next_offsets:
            offsets = [TopicPartition(t, p, o) for (t, p), o in batch.next_offsets.items()]
            try:
                self.consumer.commit(offsets=offsets, asynchronous=False)
            except Exception as exc:  # a failed commit is re-delivery, not loss
                logger.warning(
                    "commit failed (%s); records will be re-delivered and collapse on their ids",
                    exc,
                )
        self.stats.batches += 1
        self.stats.last_flush_ms = (time.monotonic() - t0) * 1000
        self.batch = Batch()
        logger.debug("flushed %d records in %.1f ms", batch.size, self.stats.last_flush_ms)
        if self.on_flush is not None:
            self.on_flush(self.stats)


def build_writers(
    client: Any, database: str, tables: tuple[TableMap, ...] = TABLES
) -> dict[str, TableWriter]:
    return {t.table: TableWriter(client=client, database=database, mapping=t) for t in tables}
