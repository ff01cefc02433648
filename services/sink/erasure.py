"""The sink acts on erasures: deletes what a request covers, and keeps it from being stored again.

Two parts, both fed by ``anpr.erasures.v1``:

- :func:`~platestream.privacy.follow.follow_ledger` builds the
  :class:`~platestream.privacy.erasure.ErasureLedger` every
  projection loop of this process filters its records through (read in full before the loops
  start, then polled): a replay, a consumer-group reset or a rebuild from the log skips the
  records of an erased plate or event instead of writing them back.
- :class:`ErasureLoop` (own consumer group) carries each request out once: it adds the request to
  the ledger, waits until the ClickHouse loop has flushed every batch it collected before that
  (so no record read before the ledger knew is inserted after the delete), deletes the rows
  (``erasure_sql.erase_rows``) and the images they reference (with their ``originals/`` copies),
  with sealing on punctures the keys of the plate, of the frames its reads came from and of the
  dead letters that mention it,
  writes a row to ``erasures`` with what it removed, and commits. A request no stage can act on is
  dead-lettered with its reason; while ClickHouse or the bucket is down it retries with backoff,
  committing nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, Message
from minio import Minio
from minio.error import S3Error

from platestream import topics as catalogue
from platestream.dlq import DeadLetters
from platestream.errors import SerdeError
from platestream.kafka import make_consumer
from platestream.privacy.dead_letters import erase_mentions
from platestream.privacy.erasure import ErasureLedger, check_request
from platestream.privacy.follow import topic_exists
from platestream.privacy.shredding import shred_frames
from platestream.s3 import MISSING
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from services.sink.batch import not_a_record, position
from services.sink.erasure_sql import erase_rows
from services.sink.image_retention import ORIGINALS
from services.sink.settings import SinkSettings

logger = logging.getLogger(__name__)

MEND_EVERY_S = 600.0  # how often erased plates are punctured again and dead key trees deleted

COLUMNS = (
    "erasure_id",
    "scope",
    "subject_id",
    "event_id",
    "before_ts",
    "actor",
    "purpose",
    "case_id",
    "ts",
    "executed_at",
    "rows_deleted",
    "images_deleted",
    "topic",
    "partition",
    "offset",
)


@dataclass
class ErasureStats:
    requests: int = 0
    rows: int = 0
    images: int = 0
    dead_lettered: int = 0
    failures: int = 0


class ErasureLoop:
    """Carries out each erasure request once (see the module's docstring)."""

    def __init__(
        self,
        *,
        settings: SinkSettings,
        consumer: Consumer,
        clickhouse: Any,
        s3: Minio | None,
        serde: AvroSerde,
        dead_letters: DeadLetters,
        producer: Any,
        ledger: ErasureLedger,
        stop: threading.Event,
        settle: Callable[[float], bool] | None = None,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.clickhouse = clickhouse
        self.s3 = s3
        self.serde = serde
        self.dlq = dead_letters
        self.producer = producer  # the dead letters' producer
        self.ledger = ledger
        self.stop = stop
        self.settle = settle  # waits until records read before now are stored (or filtered)
        self.topic = settings.topic(catalogue.ERASURES.name)
        self.stats = ErasureStats()
        # reads the dead-letter topics once per erasure (assigned, nothing committed)
        self.dead_letter_reader = lambda: make_consumer(
            settings,
            f"{settings.sink_group_erasure}-dead-letters",
            **{"enable.partition.eof": True},
        )

    def run(self) -> None:
        while not topic_exists(self.consumer, self.topic):
            logger.warning("no erasure topic %s yet: looking again in 30 s", self.topic)
            if self.stop.wait(30.0):
                return
        self.consumer.subscribe([self.topic])
        logger.info("erasure loop running: %s", self.topic)
        mended_at = time.monotonic()
        while not self.stop.is_set():
            for msg in self.consumer.consume(num_messages=10, timeout=0.5):
                if self.stop.is_set():
                    return  # uncommitted: carried out after the restart
                if not not_a_record(msg):
                    self.handle(msg)
            if time.monotonic() - mended_at > MEND_EVERY_S:
                mended_at = time.monotonic()
                self.mend_key_trees()
                self.expire_key_trees()

    def mend_key_trees(self) -> int:
        """Puncture again every erased plate in the key trees (idempotent): mends a tree that two
        erasers wrote at once, the later from a copy read before the earlier's puncture."""
        if not self.ledger.subjects:
            return 0
        subjects = dict(self.ledger.subjects)
        mended = self._on_key_trees("mending", lambda k: k.shred_all(subjects, objects=False))
        if mended:
            logger.warning("mended the subject-key trees: %d erased keys were derivable", mended)
        return mended

    def expire_key_trees(self) -> int:
        """Delete the key trees whose records have left every topic (crypto-expiry)."""
        expired = self._on_key_trees("expiring", lambda keys: keys.expire())
        if expired:
            logger.info("deleted %d subject-key trees at the end of their life", expired)
        return expired

    def _on_key_trees(self, what: str, call: Callable[[Any], int]) -> int:
        """``call`` on the subject keys when sealing is on; 0 when it is off or the bucket fails."""
        if self.serde.shredder is None:
            return 0
        try:
            return call(self.serde.shredder.keys)
        except Exception as exc:  # the key bucket down: the next round tries again
            logger.warning("%s the subject-key trees failed: %s", what, exc)
            return 0

    def handle(self, msg: Message) -> None:
        try:
            rec = self.serde.decode(msg.value())
            check_request(rec)
        except (SerdeError, ValueError, KeyError, TypeError) as exc:
            self.dlq.record(msg, exc)
            self.producer.flush(10.0)
            self.stats.dead_lettered += 1
            self.consumer.commit(message=msg, asynchronous=False)
            return
        self.ledger.add(rec)  # from now on the projections of this process skip its records
        delay = self.settings.sink_backoff_initial_s
        while not self.stop.is_set():
            # Before each attempt: a batch the ClickHouse loop read before the ledger knew, and
            # still holds (ClickHouse down), must be in before the delete, not after it.
            if self.settle is not None and not self.settle(30.0):
                logger.warning(
                    "erasure %s: the ClickHouse loop did not settle in 30 s", rec["erasure_id"]
                )
            try:
                self.carry_out(rec, msg)
                self.consumer.commit(message=msg, asynchronous=False)
                return
            except Exception as exc:  # an outage of either store: retried, nothing committed
                self.stats.failures += 1
                logger.warning(
                    "erasure %s failed (%s); retrying in %.1f s", rec["erasure_id"], exc, delay
                )
                self.stop.wait(delay)
                delay = min(delay * 2, self.settings.sink_backoff_max_s)

    def carry_out(self, rec: dict[str, Any], msg: Message) -> None:
        t0 = time.monotonic()
        out = erase_rows(self.clickhouse, key=self.settings.privacy_subject_key, request=rec)
        removed = self.delete_images(out.images)
        if self.serde.shredder is not None:  # the frames the erased reads came from
            out.rows["frames"] = shred_frames(self.serde.shredder, out.frames, now_ms())
        if self.serde.shredder is not None and rec["scope"] == "plate":
            # crypto-shredding: the log's copies of the plate stop opening, everywhere, and of the
            # texts only its passages were read as (its misreads: their reads are this vehicle's),
            # every tree read and written once for all of them
            before = int(rec["before_ts"])
            subjects = {self.serde.shredder.subject_id(p): before for p in out.misreads}
            subjects[rec["subject_id"]] = before
            out.rows["subject_keys"] = self.serde.shredder.keys.shred_all(subjects)
            # and the dead letters that mention it, each under a key of its own
            out.rows["dead_letters"], _read = erase_mentions(
                self.settings, self.serde.shredder, {rec["subject_id"]}, self.dead_letter_reader
            )
        topic, partition, offset = position(msg)
        row = {
            **{k: rec.get(k) for k in COLUMNS[:9]},
            "executed_at": now_ms(),
            "rows_deleted": out.rows,
            "images_deleted": removed,
            "topic": topic,
            "partition": partition,
            "offset": offset,
        }
        self.clickhouse.insert(
            "erasures",
            [[row[c] for c in COLUMNS]],
            column_names=list(COLUMNS),
        )
        self.stats.requests += 1
        self.stats.rows += sum(out.rows.values())
        self.stats.images += removed
        logger.info(
            "erasure %s (%s): %d rows in %d tables, %d images, in %.2f s",
            rec["erasure_id"],
            rec["scope"],
            sum(out.rows.values()),
            sum(1 for n in out.rows.values() if n),
            removed,
            time.monotonic() - t0,
        )

    def delete_images(self, keys: list[str]) -> int:
        """Remove each image and its unredacted original; a missing one is not an error."""
        if self.s3 is None:
            return 0
        removed = 0
        for key in keys:
            for name in (key, ORIGINALS + key):
                try:
                    self.s3.stat_object(self.settings.s3_bucket, name)
                except S3Error as exc:
                    if exc.code in MISSING:
                        continue
                    raise
                except ValueError as exc:  # a key no store takes was never stored
                    logger.warning("erasure: image key %r skipped: %s", name, exc)
                    continue
                self.s3.remove_object(self.settings.s3_bucket, name)
                removed += 1
        return removed
