"""The consume loop that enrich and investigate share: batches in, housekeeping on a clock, commits.

A confluent-kafka batch loop (``consume(num_messages=N)``): at tens of thousands of records/s in
one process, per-message framework overhead decides. One thread owns the stage's state, so no
locks. A subclass names its input topics and handles a batch (``process``); it may do periodic
work in ``housekeeping`` and hold commits back in ``committable``. Offsets and the rule that
nothing is committed before (or after a failure of) the stage's own output are in
platestream/commits.py.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import Consumer, Message, Producer, TopicPartition

from platestream.commits import OffsetBook, ReadBack, TopicPart
from platestream.errors import PlatestreamError
from platestream.state import StateFollower
from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)

COMMIT_INTERVAL_MS = 250  # flush the producer and commit at least this often while busy (default)


class Counters:
    """Integer counters named by a subclass's ``__slots__``, all starting at zero."""

    __slots__: tuple[str, ...] = ()

    def __init__(self) -> None:
        for name in self.__slots__:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


class BatchLoop:
    """Follows state, consumes batches, runs housekeeping and commits until told to stop."""

    def __init__(
        self,
        *,
        consumer: Consumer,
        producer: Producer,
        state: StateFollower | None,
        batch_size: int,
        poll_timeout_s: float,
        state_timeout_s: float,
        read_back: ReadBack | None = None,
        clock: Callable[[], int] = now_ms,
        commit_interval_ms: int = COMMIT_INTERVAL_MS,
    ) -> None:
        self._consumer = consumer
        self._producer = producer
        self._state = state
        self._batch_size = batch_size
        self._poll_timeout_s = poll_timeout_s
        self._state_timeout_s = state_timeout_s
        self._clock = clock
        self.offsets = OffsetBook(consumer, producer, read_back)
        self.assigned: set[TopicPart] = set()
        self._last_commit = 0
        self._commit_interval_ms = commit_interval_ms

    # --- what a stage provides --------------------------------------------------------------------
    def input_topics(self) -> list[str]:
        raise NotImplementedError

    def process(self, msgs: list[Message]) -> None:
        """Handle one batch of consumed records (no commit)."""
        raise NotImplementedError

    def started(self) -> None:
        """Called once the followed state is loaded, before the first batch."""

    def housekeeping(self, now: int) -> None:
        """Called after every batch (and every empty poll) with the wall clock in ms."""

    def committable(self) -> dict[TopicPart, int]:
        """The offsets it is safe to commit now (a stage may hold some back)."""
        return self.offsets.next_offsets()

    def revoked(self, tps: set[TopicPart]) -> None:
        """Partitions this member no longer owns, after what could be committed was."""

    # --- the loop ---------------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        """Load state, then process batches until ``stop`` is set; flush and commit on exit
        (unless a produced record failed: then its input must be re-read, so nothing is)."""
        if self._state is not None:
            self._state.start(self._state_timeout_s)
        self.started()
        self._consumer.subscribe(
            self.input_topics(), on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        try:
            while not stop.is_set():
                self.step()
        finally:
            if self.offsets.failed is None:
                self.flush_and_commit(sync=True)

    def step(self) -> None:
        """One iteration: state updates, a batch of input, housekeeping, flush and commit."""
        if self._state is not None:
            self._state.poll()
        msgs = self._consumer.consume(num_messages=self._batch_size, timeout=self._poll_timeout_s)
        if msgs:
            self.process(msgs)
        now = self._clock()
        self.housekeeping(now)
        if now - self._last_commit >= self._commit_interval_ms:
            self._last_commit = now
            self.flush_and_commit()
        else:
            self._producer.poll(0)  # delivery reports

    def flush_and_commit(self, *, sync: bool = False, only: set[TopicPart] | None = None) -> None:
        """Wait for every produced record to be acknowledged, then commit what is safe; raises
        (every time) once a produced record has failed (see platestream/commits.py)."""
        self.offsets.commit(self.committable(), sync=sync, only=only)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assigned |= {(p.topic, p.partition) for p in partitions}
        logger.info("assigned %s", ", ".join(f"{p.topic}[{p.partition}]" for p in partitions))
        self.offsets.assigned(partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        tps = {(p.topic, p.partition) for p in partitions}
        try:
            self.flush_and_commit(sync=True, only=tps)
        except PlatestreamError as exc:
            logger.warning("on revoke: %s", exc)
        self.revoked(tps)
        self.assigned -= tps
        self.offsets.revoked(tps)
