"""Offset gaps: records a consumer was not given, noticed per partition and read back.

On a topic with neither compaction nor transactions a partition's offsets are contiguous, so a
consumed offset past the one expected means some records were skipped. Real Kafka does not do
this; the local broker has been seen to after a restart (docs/faults.md), so every consumer whose
loss would lose data (enrich, sink, notify) watches for it and reads the gap back before it
goes on. A gap that reads back empty is a hole in the log (nothing to lose) and is only counted.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message, TopicPartition

from platestream.kafka import consumer_config, read_offsets

logger = logging.getLogger(__name__)


class GapWatch:
    """The next expected offset per (topic, partition); ``see`` returns the range skipped, if any."""

    def __init__(self) -> None:
        self.last: dict[tuple[str, int] | int, int] = {}

    def see(self, partition: tuple[str, int] | int, offset: int) -> range | None:
        """Record ``offset``; the offsets skipped since the previous one, if any."""
        last = self.last.get(partition)
        if last is None or offset > last:
            self.last[partition] = offset
        if last is None or offset <= last + 1:
            return None
        return range(last + 1, offset)

    def expect(self, partition: tuple[str, int] | int, next_offset: int) -> None:
        """Where consumption resumes (a committed offset): a first record past it is a gap too."""
        self.last[partition] = next_offset - 1

    def forget(self, partitions: set[tuple[str, int]] | set[int]) -> None:
        """After a rebalance: offsets of partitions this member no longer owns are not gaps."""
        for p in partitions:
            self.last.pop(p, None)


def expect_committed(
    watch: GapWatch, consumer: Consumer, partitions: list[TopicPartition], timeout_s: float = 10.0
) -> None:
    """Tell ``watch`` the committed offsets of newly assigned ``partitions`` (best effort)."""
    try:
        committed = consumer.committed(partitions, timeout=timeout_s)
    except Exception as exc:  # KafkaException: gaps are then watched from the first record
        logger.warning("committed offsets not known on assign: %s", exc)
        return
    for p in committed:
        if p.error is None and p.offset >= 0:
            watch.expect((p.topic, p.partition), p.offset)


class ReadBack:
    """Reads skipped offsets with its own assign-only consumer (made on first need, no group)."""

    def __init__(self, settings: Any, timeout_s: float = 15.0) -> None:
        self._settings = settings
        self._timeout_s = timeout_s
        self._consumer: Consumer | None = None

    def __call__(self, topic: str, partition: int, offsets: range) -> list[Message]:
        if self._consumer is None:
            group = f"{self._settings.topic_prefix}readback-{uuid.uuid4().hex[:8]}"
            self._consumer = Consumer(consumer_config(self._settings, group))
        found = read_offsets(self._consumer, topic, partition, offsets, self._timeout_s)
        logger.warning(
            "%s[%d]: consumer skipped offsets %d-%d; read back %d records",
            topic,
            partition,
            offsets.start,
            offsets.stop - 1,
            len(found),
        )
        return found

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
            self._consumer = None


def with_gaps(
    msgs: list[Message],
    watch: GapWatch,
    read_back: Callable[[str, int, range], list[Message]],
    *,
    contiguous: Callable[[str], bool] = lambda _topic: True,
) -> tuple[list[Message], int]:
    """``msgs`` with the records each partition skipped read back and put before the record
    after them, and the number of gaps seen. ``contiguous(topic)`` is False for topics whose
    offsets may legitimately jump (compacted, transactional): those are passed through."""
    out: list[Message] = []
    gaps = 0
    for msg in msgs:
        if msg.error() is None:
            topic, partition = msg.topic() or "", msg.partition() or 0
            gap = watch.see((topic, partition), msg.offset() or 0) if contiguous(topic) else None
            if gap is not None:
                gaps += 1
                out.extend(m for m in read_back(topic, partition, gap) if m.error() is None)
        out.append(msg)
    return out, gaps
