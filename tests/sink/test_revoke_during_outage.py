"""A rebalance while a batch waits for ClickHouse must not commit the records read after it.

`ClickHouseSink._complete` keeps consuming while it retries an insert (group membership), so the
consumer's revoke callback can run in the middle of that retry. Pure logic: the consumer and the
insert are stand-ins; the real outage under load is tests/sink/test_outage.py.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Any

from confluent_kafka import TopicPartition

from services.sink.batch import Batch
from services.sink.clickhouse_sink import ClickHouseSink
from services.sink.settings import SinkSettings
from services.sink.writer import Unavailable
from tests.fakes import Record

TOPIC = "anpr.plate-reads.v1"


class Consumer:
    """Revokes the partition from inside the retry's consume, as librdkafka does in a rebalance."""

    def __init__(self) -> None:
        self.sink: ClickHouseSink | None = None
        self.commits: list[int] = []
        self.revoked = False

    def consume(self, num_messages: int, timeout: float) -> list[Any]:
        if self.sink is not None and not self.revoked:
            self.revoked = True
            self.sink.clickhouse_up = True  # ClickHouse comes back during the rebalance
            self.sink.on_revoke(self, [TopicPartition(TOPIC, 0)])
        return []

    def commit(self, offsets: list[TopicPartition], asynchronous: bool) -> None:
        self.commits += [tp.offset for tp in offsets]

    def assignment(self) -> list[TopicPartition]:
        return [TopicPartition(TOPIC, 0)]

    def pause(self, partitions: list[TopicPartition]) -> None:
        pass

    def resume(self, partitions: list[TopicPartition]) -> None:
        pass


class Sink(ClickHouseSink):
    clickhouse_up = False
    inserted: list[int]

    def _insert(self, batch: Batch) -> None:
        if not self.clickhouse_up:
            raise Unavailable("connection refused")
        self.inserted.append(max(batch.next_offsets.values()))


def _sink(stop: threading.Event) -> tuple[Sink, Consumer]:
    consumer = Consumer()
    sink = Sink(
        settings=SinkSettings(sink_backoff_initial_s=0.01),
        consumer=consumer,  # type: ignore[arg-type]
        writers={},
        serde=None,  # type: ignore[arg-type]
        dead_letters=SimpleNamespace(count=0),  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
        stop=stop,
    )
    sink.inserted = []
    consumer.sink = sink
    return sink, consumer


def _batch(first: int, last: int) -> Batch:
    batch = Batch()
    for offset in range(first, last + 1):
        batch.mark(Record(TOPIC, 0, offset))  # type: ignore[arg-type]
    return batch


def test_stopped_while_waiting_nothing_read_after_the_waiting_batch_is_committed() -> None:
    stop = threading.Event()
    stop.set()  # stopping: the retry gives the older batch up after this consume
    sink, consumer = _sink(stop)
    older, sink.batch = _batch(0, 9), _batch(10, 19)
    assert sink._complete(older, None) is False
    assert consumer.revoked
    assert consumer.commits == [], "committed past records that were never inserted"
    assert sink.batch.empty()  # the newer records are re-delivered, not inserted out of order


def test_a_waiting_batch_still_goes_in_and_commits_once_clickhouse_is_back() -> None:
    sink, consumer = _sink(threading.Event())
    older, sink.batch = _batch(0, 9), _batch(10, 19)
    assert sink._complete(older, None) is True
    assert sink.inserted == [10] and consumer.commits == [10]
