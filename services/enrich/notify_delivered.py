"""What the notifier already delivered, read back from anpr.alert-deliveries.v1: the topic is the
record of every delivery, so once per (message id, channel, target) survives a restart or a
rebalance without depending on a faust table's changelog recovery.

No consumer group: each catch-up is a fresh assign-only consumer over every partition, from where
the last one stopped (the beginning at start), read until every partition reports EOF. The local
broker's high watermark is wrong (the last batch's base offset + 1), so watermarks are never used;
its EOF comes after the whole last batch, at the true end (checked against tansu). Memory is
bounded twice: deliveries older than the alerts topic's retention are forgotten (no record that
could be delivered again is older), and at most ``max_entries`` ids are kept, the newest.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from platestream.errors import PlatestreamError, SerdeError
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)

MAX_ENTRIES = 1_000_000  # about 160 MB of ids (measured: ~160 bytes each)
MAX_ID_LEN = 64  # delivery ids are UUIDv5 text (36 characters)
TRIM_EVERY_S = 3600.0


class DeliveredLog:
    """Delivery ids of successful deliveries, seeded from the deliveries topic and kept current.

    ``current()`` (async) brings the set up to date when it is stale: at start and after every
    partition assignment (``mark_stale``), because another worker may have delivered records of
    the partitions this one now owns. ``add`` records this worker's own deliveries at once.
    """

    def __init__(
        self,
        *,
        topic: str,
        serde: AvroSerde,
        consumer: Callable[[], Consumer],
        horizon_ms: int,
        max_entries: int = MAX_ENTRIES,
        stall_timeout_s: float = 30.0,
        retry_s: float = 2.0,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.topic = topic
        self._serde = serde
        self._consumer = consumer
        self._horizon_ms = horizon_ms if horizon_ms > 0 else None  # -1: kept forever
        self._max = max_entries
        self._stall_s = stall_timeout_s
        self._retry_s = retry_s
        self._clock = clock
        self._ids: dict[str, int] = {}  # delivery id -> delivery time (ms)
        self._positions: dict[int, int] = {}  # partition -> next offset to read
        self._mutex = threading.Lock()  # catch-up runs in an executor thread
        self._catching_up: asyncio.Lock | None = None
        self._trimmed_at = time.monotonic()
        self.stale = True
        self.read = 0  # records read from the topic
        self.evicted = 0  # ids forgotten within the horizon because of max_entries

    def __contains__(self, delivery_id: object) -> bool:
        return delivery_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)

    def mark_stale(self) -> None:
        self.stale = True

    def add(self, delivery_id: str, ts: int) -> None:
        with self._mutex:
            self._put(delivery_id, ts)
            self._maybe_trim()

    async def current(self) -> None:
        """Read what was delivered up to now (in an executor), if anything may be missing.

        Retries until it succeeds: delivering without knowing what was delivered is what this
        exists to prevent, and a broker that cannot be read cannot take the outcomes either."""
        if self._catching_up is None:
            self._catching_up = asyncio.Lock()
        loop = asyncio.get_running_loop()
        while self.stale:
            async with self._catching_up:
                if not self.stale:
                    return
                self.stale = False  # an assignment during the read marks it stale again
                try:
                    await loop.run_in_executor(None, self.catch_up)
                except (PlatestreamError, KafkaException) as exc:
                    self.stale = True
                    logger.warning("reading %s failed (%s); retrying", self.topic, exc)
                    await asyncio.sleep(self._retry_s)

    def catch_up(self) -> int:
        """Read every partition from the last position to its EOF (blocking); records read."""
        consumer = self._consumer()
        try:
            return self._read_to_end(consumer)
        finally:
            consumer.close()

    def _read_to_end(self, consumer: Consumer) -> int:
        md = consumer.list_topics(self.topic, timeout=self._stall_s).topics.get(self.topic)
        if md is None or md.error is not None:
            if md is not None and md.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                logger.warning("%s does not exist: nothing delivered yet", self.topic)
                return 0
            raise PlatestreamError(f"no metadata for {self.topic}: {md.error if md else None}")
        start = {p: self._positions.get(p, OFFSET_BEGINNING) for p in md.partitions}
        consumer.assign([TopicPartition(self.topic, p, off) for p, off in start.items()])
        pending = set(start)
        n = 0
        deadline = time.monotonic() + self._stall_s
        while pending:
            if time.monotonic() > deadline:
                raise PlatestreamError(
                    f"{self.topic} not read to the end: no progress in {self._stall_s}s on"
                    f" partitions {sorted(pending)}"
                )
            batch = consumer.consume(num_messages=5000, timeout=0.2)
            if batch:
                deadline = time.monotonic() + self._stall_s
            with self._mutex:
                for msg in batch:
                    err = msg.error()
                    if err is not None:
                        if err.code() == KafkaError._PARTITION_EOF:
                            pending.discard(msg.partition() or 0)
                            continue
                        raise PlatestreamError(f"{self.topic}: {err}")
                    self._apply(msg)
                    n += 1
                self._maybe_trim()
        with self._mutex:
            self._trim()
        self.read += n
        logger.info("%s read to the end: %d records, %d delivery ids", self.topic, n, len(self))
        return n

    def _apply(self, msg: Any) -> None:
        partition, offset = msg.partition() or 0, msg.offset() or 0
        self._positions[partition] = offset + 1
        try:
            rec = self._serde.decode(msg.value())
            did, status, ts = rec["delivery_id"], rec["status"], rec["ts"]
            if not isinstance(did, str) or not 0 < len(did) <= MAX_ID_LEN:
                raise ValueError(f"bad delivery_id {did!r:.80}")
            if not isinstance(ts, int):
                raise ValueError(f"bad ts {ts!r:.80}")
        except (SerdeError, KeyError, ValueError, TypeError) as exc:
            logger.warning("skipping %s[%d]@%d: %s", self.topic, partition, offset, exc)
            return
        if status == "delivered":
            self._put(did, ts)

    def _put(self, delivery_id: str, ts: int) -> None:
        if self._horizon_ms is not None and ts < self._clock() - self._horizon_ms:
            return
        if self._ids.get(delivery_id, ts - 1) < ts:
            self._ids.pop(delivery_id, None)
            self._ids[delivery_id] = ts

    def _maybe_trim(self) -> None:
        over = len(self._ids) > self._max + self._max // 10  # slack: trim sorts, so not each add
        if over or time.monotonic() - self._trimmed_at > TRIM_EVERY_S:
            self._trim()

    def _trim(self) -> None:
        """Forget ids older than the horizon, then all but the newest ``max_entries``."""
        self._trimmed_at = time.monotonic()
        if self._horizon_ms is not None:
            oldest = self._clock() - self._horizon_ms
            expired = [k for k, ts in self._ids.items() if ts < oldest]
            for k in expired:
                del self._ids[k]
        if len(self._ids) > self._max:
            keep = sorted(self._ids.items(), key=lambda kv: kv[1])[-self._max :]
            self.evicted += len(self._ids) - len(keep)
            logger.warning(
                "forgetting %d delivery ids within the horizon (more than %d held): a re-sent"
                " alert older than %d ms may be delivered again",
                len(self._ids) - len(keep),
                self._max,
                self._clock() - keep[0][1],
            )
            self._ids = dict(keep)
