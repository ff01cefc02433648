"""Followers of compacted state topics (watchlists, cameras): read in full at start, then followed.

No consumer group: every process assigns every partition from the beginning and applies records
in order, so the last value per key wins and a tombstone (None value) deletes. "The end" at start
is where the consumer reports partition EOF (the local broker's high watermark can lag a batch, so
the EOF event, which comes after the fetched batch is delivered, is the reliable signal).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from platestream.errors import PlatestreamError, SerdeError
from platestream.serde import AvroSerde

logger = logging.getLogger(__name__)

Apply = Callable[[str, dict[str, Any] | None], None]


class StateFollower:
    """Applies every record of some compacted topics to in-memory tables."""

    def __init__(
        self,
        *,
        consumer: Consumer,
        serde: AvroSerde,
        tables: dict[str, Apply],
        on_error: Callable[[Message, BaseException], None] | None = None,
    ) -> None:
        self._consumer = consumer
        self._serde = serde
        self._tables = tables
        self._on_error = on_error
        self.applied = 0

    @staticmethod
    def consumer_config(common: dict[str, str]) -> dict[str, Any]:
        return {
            **common,
            "group.id": f"platestream-state-{uuid.uuid4()}",  # never committed; assign only
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            # Not lower: the local broker's S3 engine returns nothing to a fetch whose wait is
            # shorter than its listing of the partition (docs/faults.md). Polled with timeout 0.
            "fetch.wait.max.ms": 500,
        }

    def start(self, timeout_s: float) -> None:
        """Assign every partition from the beginning and read until each reports EOF."""
        assignment: list[TopicPartition] = []
        for topic in self._tables:
            md = self._consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
            if md is None or md.error is not None:
                raise PlatestreamError(
                    f"state topic {topic} is missing: {md.error if md else 'no metadata'}"
                )
            assignment.extend(TopicPartition(topic, p, OFFSET_BEGINNING) for p in md.partitions)
        self._consumer.assign(assignment)
        pending = {(tp.topic, tp.partition) for tp in assignment}
        deadline = time.monotonic() + timeout_s
        while pending:
            if time.monotonic() > deadline:
                raise PlatestreamError(
                    f"state topics not read to the end within {timeout_s}s: {sorted(pending)}"
                )
            for msg in self._consumer.consume(num_messages=5000, timeout=0.2):
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard((msg.topic(), msg.partition()))
                        continue
                    raise PlatestreamError(f"state topic error: {err}")
                self._apply(msg)
        logger.info("state topics read to the end: %d records applied", self.applied)

    def poll(self, max_records: int = 1000) -> int:
        """Apply whatever new state records arrived (non-blocking)."""
        n = 0
        for msg in self._consumer.consume(num_messages=max_records, timeout=0):
            err = msg.error()
            if err is not None:
                if err.code() != KafkaError._PARTITION_EOF:
                    logger.warning("state topic error: %s", err)
                continue
            self._apply(msg)
            n += 1
        return n

    def _apply(self, msg: Message) -> None:
        key_bytes = msg.key()
        key = key_bytes.decode("utf-8", "replace") if key_bytes else ""
        value = msg.value()
        try:
            record = None if value is None else self._serde.decode(value)
            self._tables[msg.topic() or ""](key, record)
        except (SerdeError, ValueError, KeyError, TypeError) as exc:
            logger.warning(
                "bad state record %s[%s]@%s: %s", msg.topic(), msg.partition(), msg.offset(), exc
            )
            if self._on_error is not None:
                self._on_error(msg, exc)
            return
        self.applied += 1

    def close(self) -> None:
        self._consumer.close()
