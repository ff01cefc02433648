"""What a batch processor has read and may commit: the offset book of enrich and investigate.

Both stages consume a batch, produce what it gives, and commit their input only once the producer
has delivered everything produced so far. This class keeps that rule in one place:

- ``see`` records each consumed offset per (topic, partition) and, when a partition's offset jumps
  past the one expected, reads the skipped records back (``platestream.gaps``) and puts them first;
- ``commit`` flushes the producer, then commits the offsets it is given where they moved;
- once a produced record has failed, nothing is committed again by this process (not on revoke,
  not on exit): that record's input may lie below any offset it could commit, so it must be
  re-read by the next owner of the partition.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from platestream.errors import PlatestreamError
from platestream.gaps import GapWatch, with_gaps
from platestream.kafka import delivery_problem

logger = logging.getLogger(__name__)

TopicPart = tuple[str, int]
ReadBack = Callable[[str, int, range], list[Message]]
FLUSH_TIMEOUT_S = 30


class OffsetBook:
    """Consumed and committed offsets of one consumer, and the producer whose output gates them."""

    def __init__(
        self, consumer: Consumer, producer: Producer, read_back: ReadBack | None = None
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._read_back = read_back
        self._watch = GapWatch()
        self.committed: dict[TopicPart, int] = {}
        self.delivery_errors: list[str] = []
        self.failed: str | None = None  # set once a produced record failed: never commit again
        self.gaps = 0
        self.gap_reads = 0

    # --- input ------------------------------------------------------------------------------------
    def see(self, msgs: list[Message]) -> list[Message]:
        """``msgs`` with any records their partitions skipped read back and put before them."""
        out, gaps = with_gaps(msgs, self._watch, self._read_back_or_warn)
        if gaps:
            self.gaps += gaps
            self.gap_reads += len(out) - len(msgs)
        return out

    def _read_back_or_warn(self, topic: str, partition: int, offsets: range) -> list[Message]:
        if self._read_back is None:
            logger.warning(
                "%s[%d]: offsets %d-%d skipped by the consumer, no read-back wired",
                topic,
                partition,
                offsets.start,
                offsets.stop - 1,
            )
            return []
        return self._read_back(topic, partition, offsets)  # gaps.ReadBack logs what it found

    def next_offsets(self) -> dict[TopicPart, int]:
        """Per partition seen: the offset after the last one consumed (where a restart resumes)."""
        return {tp: last + 1 for tp, last in self._watch.last.items()}  # type: ignore[misc]

    # --- output -----------------------------------------------------------------------------------
    def on_delivery(self, err: Any, msg: Message) -> None:
        """The producer's delivery callback: remember every record that did not make it."""
        problem = delivery_problem(err, msg)
        if problem is not None:
            self.delivery_errors.append(f"{msg.topic()}: {problem}")

    def commit(
        self,
        offsets: dict[TopicPart, int],
        *,
        sync: bool = False,
        only: set[TopicPart] | None = None,
    ) -> None:
        """Wait for every produced record to be acknowledged, then commit ``offsets`` that moved.

        Raises PlatestreamError, now and on every later call, once any produced record failed."""
        if self.failed is not None:
            raise PlatestreamError(f"{self.failed}; not committing")
        if self._producer.flush(FLUSH_TIMEOUT_S) > 0:
            self.failed = f"producer could not deliver within {FLUSH_TIMEOUT_S} s"
            raise PlatestreamError(f"{self.failed}; not committing")
        if self.delivery_errors:
            errors = self.delivery_errors
            self.failed = f"{len(errors)} records not delivered (e.g. {errors[0]})"
            raise PlatestreamError(f"{self.failed}; not committing")
        moved = [
            TopicPartition(tp[0], tp[1], off)
            for tp, off in offsets.items()
            if self.committed.get(tp) != off and (only is None or tp in only)
        ]
        if not moved:
            return
        try:
            if sync:
                self._consumer.commit(offsets=moved, asynchronous=False)
            else:
                self._consumer.commit(offsets=moved, asynchronous=True)
        except Exception as exc:  # KafkaException; a failed commit only means more re-reading
            logger.warning("commit failed: %s", exc)
            return
        for tp in moved:
            self.committed[(tp.topic, tp.partition)] = tp.offset

    # --- rebalances -------------------------------------------------------------------------------
    def assigned(self, partitions: list[TopicPartition], timeout_s: float = 10.0) -> None:
        """Newly assigned partitions resume at their committed offsets: a first record past one
        of them is a gap too (read back like any other)."""
        try:
            committed = self._consumer.committed(partitions, timeout=timeout_s)
        except Exception as exc:  # KafkaException: then gaps are watched from the first record
            logger.warning("committed offsets not known on assign: %s", exc)
            return
        for p in committed:
            if p.error is None and p.offset >= 0:
                self._watch.expect((p.topic, p.partition), p.offset)
                self.committed[(p.topic, p.partition)] = p.offset

    def revoked(self, tps: set[TopicPart]) -> None:
        """Forget partitions this member no longer owns (after committing what it could)."""
        self._watch.forget(tps)
        for tp in tps:
            self.committed.pop(tp, None)
