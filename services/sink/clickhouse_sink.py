"""The ClickHouse projection: event topics -> tables, exactly once in the table.

At-least-once delivery plus idempotent tables: offsets are committed only after the insert of
every record they cover succeeded (or the record went to the dead-letter topic); a retried batch
carries the same insert deduplication token; a record delivered twice (a restart after a crash,
an upstream retry) collapses on its id in the ReplacingMergeTree (count with FINAL or argMax).
When ClickHouse is down the consumer pauses its partitions, keeps the batch and retries with
backoff; nothing is dropped and the process does not crash. Offsets the consumer skipped on a
topic without compaction are read back before the record after them (``platestream.gaps``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from platestream.dlq import DeadLetters
from platestream.errors import BadInputError, SerdeError
from platestream.gaps import GapWatch, expect_committed, with_gaps
from platestream.privacy.erasure import ErasureLedger, hmac_pads
from platestream.privacy.shredding import Shredded
from platestream.serde import AvroSerde
from services.sink import avro_container, passthrough
from services.sink.batch import Batch, SinkStats, TableBuffer, not_a_record, position
from services.sink.holdback import PassageHold
from services.sink.rows import TABLES, Source, TableMap
from services.sink.settings import SinkSettings
from services.sink.writer import TableWriter, Unavailable

logger = logging.getLogger(__name__)

# Erasures the pass-through checks in its statement (their subject ids are in it); beyond, Python.
MAX_LEDGER_IN_SQL = 2000


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
        read_back: Callable[[str, int, range], list[Message]] | None = None,
        erasures: ErasureLedger | None = None,
    ) -> None:
        self.settings = settings
        self.erasures = erasures  # records it names are not stored (a replay, a rebuild)
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
        self.read_back = read_back
        self.gaps = GapWatch()
        self.stats = SinkStats()
        self.batch = Batch()
        self._paused: list[TopicPartition] = []
        self._inflight: tuple[Batch, Future[None]] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ch-insert")
        self._waiting = False  # a batch is being retried while ClickHouse is down
        self.hold = PassageHold(settings, self.topics)  # passages waiting for a larger insert

    # -- consumer callbacks -------------------------------------------------------------
    def on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        logger.info("assigned %d partitions", len(partitions))
        self._paused = []
        if self.read_back is not None:
            expect_committed(self.gaps, consumer, partitions)

    def on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Flush what we hold for the partitions we lose; if we cannot, drop it (it is re-delivered)."""
        self.gaps.forget({(p.topic, p.partition) for p in partitions})
        if self.batch.empty() and self._inflight is None:
            return
        if self._waiting:
            # from the consume of `_complete`'s retry: an older batch is not in yet, and
            # committing the records read after it would commit past it (re-delivered instead)
            logger.warning(
                "revoked while a batch waits for ClickHouse: %d dropped", self.batch.size
            )
            self.batch = Batch()
            return
        try:
            if self._complete_inflight(retry=False) and not self.batch.empty():
                batch, self.batch = self.batch, Batch()
                self._complete(batch, None, retry=False)
        except Unavailable as exc:
            self._inflight = None
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
            if self.read_back is not None:
                msgs, gaps = with_gaps(msgs, self.gaps, self.read_back, contiguous=self._contiguous)
                self.stats.gaps += gaps
            for msg in msgs:
                self.handle(msg)
            if not self.batch.empty() and (
                self.batch.size >= max_rows or self.batch.age() >= max_age
            ):
                self.flush()
            elif self._inflight is not None and self._inflight[1].done():
                self._complete_inflight()  # commit it now, not at the next flush
        self.drain()
        self._pool.shutdown(wait=True)

    def _contiguous(self, topic: str) -> bool:
        mapping = self.topics.get(topic)
        return mapping is not None and not mapping.topic.compacted  # compaction leaves gaps

    def handle(self, msg: Message) -> None:
        if not_a_record(msg):
            return
        self.stats.consumed += 1
        mapping = self.topics.get(msg.topic() or "")
        if mapping is None:  # not ours (cannot happen with subscribe); skip but count the offset
            self.batch.mark(msg)
            return
        sid = self._passes_through(mapping, msg.value())
        if sid is not None:
            self.batch.add_raw(mapping, sid, msg)
            return
        rec = self._decoded(mapping, msg, self.batch)
        if rec is not None:
            self.batch.add(mapping, rec, msg)

    def _passes_through(self, mapping: TableMap, value: bytes | None) -> int | None:
        """The schema id when ClickHouse can decode this record itself (passthrough.py): a table
        with a fast path, today's schema of the topic's type, a ledger small enough to check in
        the statement."""
        if (
            not self.settings.sink_passthrough
            or self.serde.shredder is not None  # sealed fields are opened in Python
            or mapping.table not in passthrough.SHAPES
            or (self.erasures is not None and self.erasures.requests > MAX_LEDGER_IN_SQL)
            or value is None
            or len(value) <= avro_container.WIRE_HEADER
            or value[0] != 0
        ):
            return None
        sid = int.from_bytes(value[1:5], "big")
        return sid if self.serde.current(sid) == mapping.schema else None

    def _decoded(self, mapping: TableMap, msg: Message, batch: Batch) -> dict[str, Any] | None:
        """The record to store, or None: dead-lettered with its reason (now, or with the batch's
        rejected rows when ``batch`` is in flight), or erased."""
        try:
            name, rec = self.serde.decode_with_name(msg.value())
            if name != mapping.schema:
                raise SerdeError(f"record of schema {name} on a {mapping.schema} topic")
            mapping.validate(rec)
        except Shredded:  # its plate's key is erased: a copy of something erased
            batch.erased += 1
            batch.mark(msg)
            return None
        except (SerdeError, BadInputError) as exc:
            if batch is self.batch:
                self._dead_letter(msg, exc)
                batch.mark(msg)
            else:
                batch.rejected.append((msg, exc))
            return None
        if self.erasures is not None and not self.erasures.empty():
            kept = self.erasures.apply(mapping.schema, rec)
            if kept is None:
                batch.erased += 1
                batch.mark(msg)
                return None
            rec = kept
        return rec

    def settle(self, timeout: float) -> bool:
        """Wait until every record this loop read before the call is inserted or dropped: two
        more flushes (the one in flight and the one being collected), or two looks 0.3 s apart
        that find nothing buffered. False when ``timeout`` passed first."""
        start = self.stats.batches
        self.hold.hold_nothing_next(2)  # held-back passages go in with them
        idle = 0
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stop.is_set():
            if self.stats.batches >= start + 2:
                return True
            idle = idle + 1 if self.batch.empty() and self._inflight is None else 0
            if idle >= 2:
                return True
            time.sleep(0.3)
        return False

    def _dead_letter(self, msg: Message, exc: BaseException) -> None:
        self.dlq.record(msg, exc)
        self.stats.dead_lettered += 1

    # -- flushing -----------------------------------------------------------------------
    # One insert may be in flight in a worker thread while the loop decodes the next batch
    # (ClickHouse parses and writes in its own process, so the two overlap on two cores).
    # Completion (dead letters, commit) always happens here, in order, one batch after another.
    def flush(self) -> None:
        """Hand the batch to the inserter; first complete the one in flight (retrying while down)."""
        batch = self.batch
        self.batch = self.hold.split(batch)
        if batch.empty() and not batch.tables:  # everything waits: nothing to insert yet
            return
        if not self._complete_inflight():
            # Stopping while ClickHouse is down: drop both batches uncommitted (re-delivered on
            # restart). Nothing later may be committed, or it would skip the failed batch.
            self.batch = Batch()
            return
        if self.settings.sink_pipeline:
            self._inflight = (batch, self._pool.submit(self._insert, batch))
        else:
            self._complete(batch, None)

    def drain(self) -> None:
        """On stop: complete what is in flight and insert what is buffered, one attempt each."""
        try:
            if self._complete_inflight(retry=False) and not self.batch.empty():
                batch, self.batch = self.batch, Batch()
                self._complete(batch, None, retry=False)
        except Unavailable as exc:
            logger.warning("stopping with records unflushed (%s); they will be re-delivered", exc)

    def _complete_inflight(self, retry: bool = True) -> bool:
        if self._inflight is None:
            return True
        batch, fut = self._inflight
        self._inflight = None
        return self._complete(batch, fut, retry=retry)

    def _complete(self, batch: Batch, attempt: Future[None] | None, retry: bool = True) -> bool:
        """Insert ``batch`` (or await its insert), retrying with backoff while ClickHouse is down,
        then dead-letter its rejected rows and commit its offsets. False when stopped first."""
        delay = self.settings.sink_backoff_initial_s
        while True:
            try:
                if attempt is not None:
                    attempt.result()
                else:
                    self._insert(batch)
                self._finish(batch)
                if self._paused:
                    self.consumer.resume(self._paused)
                    logger.info("ClickHouse is back: resumed %d partitions", len(self._paused))
                    self._paused = []
                return True
            except Unavailable as exc:
                attempt = None
                if not retry:
                    raise
                if not self._paused:
                    self.stats.outages += 1
                    self._paused = self.consumer.assignment()
                    self.consumer.pause(self._paused)
                    logger.warning(
                        "ClickHouse unavailable (%s): paused %d partitions, holding %d records",
                        exc,
                        len(self._paused),
                        batch.size + self.batch.size,
                    )
                stopped = self.stop.wait(delay)
                # keep the group membership alive; prefetched records join the next batch
                self._waiting = True
                try:
                    for msg in self.consumer.consume(num_messages=1000, timeout=0):
                        self.handle(msg)
                finally:
                    self._waiting = False
                if stopped:
                    return False
                delay = min(delay * 2, self.settings.sink_backoff_max_s)

    def _insert(self, batch: Batch) -> None:
        """Insert every table of the batch (worker thread or loop); tables done are not redone."""
        t0 = time.monotonic()
        for table, buf in batch.tables.items():
            for sid in list(buf.raw):
                self._insert_raw(batch, buf, sid)
            if not buf.records:
                continue
            result = self.writers[table].insert(buf.records, buf.sources)
            batch.rejected.extend((buf.messages[i], exc) for i, exc in result.rejected)
            self.stats.inserted += result.inserted
            self.stats.per_table[table] = self.stats.per_table.get(table, 0) + result.inserted
            buf.records, buf.sources, buf.messages = [], [], []
        self.stats.last_flush_ms = (time.monotonic() - t0) * 1000

    def _insert_raw(self, batch: Batch, buf: TableBuffer, sid: int) -> None:
        """Records of one schema id for ClickHouse to decode; if it refuses them (a record fails a
        check), they are decoded here and join the table's records, the bad ones rejected."""
        msgs = buf.raw[sid]
        writer = self.writers[buf.mapping.table]
        fast = (
            writer.fast_path(sid, self.serde.written(buf.mapping.schema))
            if len(msgs) >= self.settings.sink_passthrough_min_rows
            else None
        )
        sources = [Source(*position(m)) for m in msgs]
        erased = self._erasure_check(buf.mapping.table)
        values = [m.value() or b"" for m in msgs]
        if fast is not None and writer.insert_raw(fast, values, sources, erased):
            self.stats.inserted += len(msgs)
            self.stats.passed_through += len(msgs)
            table = buf.mapping.table
            self.stats.per_table[table] = self.stats.per_table.get(table, 0) + len(msgs)
        else:
            self.stats.fallbacks += fast is not None
            for msg, source in zip(msgs, sources, strict=True):
                rec = self._decoded(buf.mapping, msg, batch)
                if rec is not None:
                    buf.records.append(rec)
                    buf.sources.append(source)
                    buf.messages.append(msg)
        del buf.raw[sid]

    def _erasure_check(self, table: str) -> str:
        """The statement's check that no record is one the ledger erases ("1": nothing erased)."""
        ledger = self.erasures
        if ledger is None or ledger.empty():
            return "1"
        ids = ledger.reads if table == "plate_reads" else ledger.events
        ipad, opad = (pad.hex() for pad in hmac_pads(ledger.key))
        return passthrough.erasure_check(table, list(ledger.subjects), list(ids), (ipad, opad))

    def _finish(self, batch: Batch) -> None:
        self.stats.erased += batch.erased
        batch.erased = 0
        for msg, exc in batch.rejected:
            self._dead_letter(msg, exc)
        batch.rejected = []
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
        logger.debug("flushed %d records (insert %.1f ms)", batch.size, self.stats.last_flush_ms)
        if self.on_flush is not None:
            self.on_flush(self.stats)


def build_writers(
    client: Any, database: str, tables: tuple[TableMap, ...] = TABLES
) -> dict[str, TableWriter]:
    return {t.table: TableWriter(client=client, database=database, mapping=t) for t in tables}
