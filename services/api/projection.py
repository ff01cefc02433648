"""In-memory projections of compacted topics (users, API keys, cameras, watchlists, alert acks).

A background thread assigns every partition of the topic from the beginning, applies each record
(last value per key wins; a null value deletes) and then keeps following the topic. Writers wait
until the projection has applied the offset they produced, so a change made through this process
is visible to its next request.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from platestream.errors import SerdeError
from platestream.kafka import make_consumer
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings

logger = logging.getLogger(__name__)


class TopicProjection:
    """Key -> latest decoded record of one topic, kept current by a consumer thread."""

    def __init__(
        self,
        *,
        settings: CommonSettings,
        topic: str,
        serde: AvroSerde,
        consumer_factory: Callable[[], Consumer] | None = None,
        idle_ready_s: float = 1.5,
        key_of: Callable[[str, dict[str, Any]], str] | None = None,
        tail: int | None = None,
    ) -> None:
        self.topic = topic
        self._settings = settings
        self._serde = serde
        self._consumer_factory = consumer_factory
        self._idle_ready_s = idle_ready_s
        # key_of: the projection's key for a record (default: the message key); tail: for a
        # topic that is not compacted, start this many records before the end of each partition.
        self._key_of = key_of
        self._tail = tail
        self._items: dict[str, dict[str, Any]] = {}
        self._positions: dict[int, int] = {}  # partition -> next offset to apply
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self.ready = threading.Event()
        self._thread: threading.Thread | None = None
        self.errors = 0

    # -- reading -------------------------------------------------------------------------
    def get(self, key: str) -> dict[str, Any] | None:
        with self._cond:
            item = self._items.get(key)
            return dict(item) if item is not None else None

    def values(self) -> list[dict[str, Any]]:
        with self._cond:
            return [dict(v) for v in self._items.values()]

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    # -- writing -------------------------------------------------------------------------
    def apply(self, key: str, record: dict[str, Any] | None) -> None:
        """Apply one change locally (also used when the consumer lags behind a write)."""
        with self._cond:
            if record is None:
                self._items.pop(key, None)
            else:
                self._items[key] = record
            self._cond.notify_all()

    def wait_for(self, partition: int, offset: int, timeout: float = 5.0) -> bool:
        """Block until the record at ``partition@offset`` has been applied; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._positions.get(partition, 0) > offset, timeout)

    # -- the consumer thread -------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name=f"projection-{self.topic}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _make_consumer(self) -> Consumer:
        if self._consumer_factory is not None:
            return self._consumer_factory()
        return make_consumer(
            self._settings,
            f"platestream-api-projection-{uuid.uuid4().hex[:8]}",
            **{"enable.partition.eof": True, "isolation.level": "read_uncommitted"},
        )

    def _run(self) -> None:
        # The broker may be unreachable when the API starts: keep trying until it answers or stop.
        while not self._stop.is_set():
            try:
                self._follow()
                return
            except KafkaException as exc:
                logger.warning(
                    "projection of %s: broker unavailable (%s); retrying in 2 s", self.topic, exc
                )
                self._stop.wait(2.0)

    def _follow(self) -> None:
        consumer = self._make_consumer()
        try:
            meta = consumer.list_topics(self.topic, timeout=10)
            parts = sorted(meta.topics[self.topic].partitions) if self.topic in meta.topics else []
            if not parts:
                logger.warning("projection: topic %s has no partitions yet", self.topic)
                parts = [0]
            consumer.assign([self._start(consumer, p) for p in parts])
            at_eof: set[int] = set()
            idle = 0.0
            while not self._stop.is_set():
                msg = consumer.poll(0.25)
                if msg is None:
                    idle += 0.25
                    if idle >= self._idle_ready_s and not self.ready.is_set():
                        self.ready.set()
                    continue
                idle = 0.0
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        at_eof.add(int(msg.partition() or 0))
                        if at_eof >= set(parts):
                            self.ready.set()
                    else:
                        logger.warning("projection %s: %s", self.topic, err)
                    continue
                self._apply_msg(msg)
        finally:
            consumer.close()

    def _start(self, consumer: Consumer, partition: int) -> TopicPartition:
        if self._tail is None:
            return TopicPartition(self.topic, partition, OFFSET_BEGINNING)
        low, high = consumer.get_watermark_offsets(
            TopicPartition(self.topic, partition), timeout=10
        )
        return TopicPartition(self.topic, partition, max(low, high - self._tail))

    def _apply_msg(self, msg: Any) -> None:
        key = (msg.key() or b"").decode("utf-8", "replace")
        value = msg.value()
        record: dict[str, Any] | None = None
        if value is not None:
            try:
                record = self._serde.decode(value)
            except SerdeError as exc:
                self.errors += 1
                logger.warning(
                    "projection: skipping %s[%s]@%s: %s",
                    msg.topic(),
                    msg.partition(),
                    msg.offset(),
                    exc,
                )
        if record is not None and self._key_of is not None:
            key = self._key_of(key, record)
        with self._cond:
            if value is None:
                self._items.pop(key, None)
            elif record is not None:
                self._items[key] = record
            self._positions[msg.partition()] = msg.offset() + 1
            self._cond.notify_all()
