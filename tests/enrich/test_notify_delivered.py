"""The notifier's record of what it delivered, read back from the deliveries topic
(services/enrich/notify_delivered.py): unit tests with a scripted consumer, and one against the
local broker, whose high watermark stops short of the last batch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from platestream import topics as catalogue
from platestream.errors import PlatestreamError
from platestream.kafka import make_producer
from platestream.state import StateFollower
from services.enrich.notify_delivered import DeliveredLog

from .helpers import SERDE

NOW = 1_800_000_000_000
DAY = 24 * 3600 * 1000
TOPIC = "anpr.alert-deliveries.v1"


def outcome(did: str, status: str = "delivered", ts: int = NOW) -> bytes:
    rec = {
        "delivery_id": did,
        "alert_id": "A-" + did,
        "channel": "webhook",
        "target": "http://h",
        "status": status,
        "attempts": 1,
        "error": None,
        "ts": ts,
    }
    return SERDE.encode("alert_delivery", rec)


class _Err:
    def __init__(self, code: int) -> None:
        self._code = code

    def code(self) -> int:
        return self._code


class _Msg:
    def __init__(self, partition: int, offset: int, value: bytes | None, eof: bool = False):
        self._p, self._o, self._v, self._eof = partition, offset, value, eof

    def error(self) -> _Err | None:
        return _Err(KafkaError._PARTITION_EOF) if self._eof else None

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def value(self) -> bytes | None:
        return self._v


class _Md:
    def __init__(self, partitions: int | None) -> None:
        self.partitions = dict.fromkeys(range(partitions or 0))
        self.error = None if partitions else _Err(KafkaError.UNKNOWN_TOPIC_OR_PART)


class FakeLog:
    """A topic's partitions as lists of values; a consumer over it like confluent-kafka's
    (records from the assigned offsets, then one EOF per partition)."""

    def __init__(self, partitions: int | None = 2) -> None:
        self.parts: list[list[bytes | None]] = [[] for _ in range(partitions or 0)]
        self.exists = partitions is not None
        self.assigned: list[list[tuple[int, int]]] = []
        self.fail_next = 0

    def consumer(self) -> Any:
        log = self

        class C:
            def list_topics(self, topic: str, timeout: float) -> Any:
                if log.fail_next:
                    log.fail_next -= 1
                    raise PlatestreamError("broker down")
                return type("M", (), {"topics": {topic: _Md(len(log.parts) or None)}})()

            def assign(self, tps: list[TopicPartition]) -> None:
                log.assigned.append([(tp.partition, tp.offset) for tp in tps])
                self.queue = []
                for tp in tps:
                    start = 0 if tp.offset == OFFSET_BEGINNING else tp.offset
                    part = log.parts[tp.partition]
                    self.queue += [_Msg(tp.partition, o, part[o]) for o in range(start, len(part))]
                    self.queue.append(_Msg(tp.partition, len(part), None, eof=True))

            def consume(self, num_messages: int, timeout: float) -> list[_Msg]:
                out, self.queue = self.queue[:num_messages], self.queue[num_messages:]
                return out

            def close(self) -> None:
                pass

        return C()


def make(log: FakeLog, **kw: Any) -> DeliveredLog:
    return DeliveredLog(
        topic=TOPIC,
        serde=SERDE,
        consumer=log.consumer,
        horizon_ms=kw.pop("horizon_ms", 365 * DAY),
        clock=lambda: NOW,
        **kw,
    )


def test_seeds_successful_deliveries_from_every_partition() -> None:
    log = FakeLog()
    log.parts[0] += [outcome("d1"), outcome("d2", "failed"), b"\x00junk"]
    log.parts[1] += [outcome("d3"), None]  # a bad record is skipped, not fatal
    delivered = make(log)
    assert delivered.catch_up() == 5
    assert "d1" in delivered and "d3" in delivered
    assert "d2" not in delivered  # failed: the next copy of the alert tries again
    assert len(delivered) == 2


def test_catch_up_resumes_where_the_last_read_stopped() -> None:
    log = FakeLog()
    log.parts[0] += [outcome("d1"), outcome("d2")]
    delivered = make(log)
    delivered.catch_up()
    log.parts[0].append(outcome("d4"))  # another worker delivered meanwhile
    log.parts[1].append(outcome("d5"))
    assert delivered.catch_up() == 2
    assert log.assigned == [
        [(0, OFFSET_BEGINNING), (1, OFFSET_BEGINNING)],
        [(0, 2), (1, OFFSET_BEGINNING)],
    ]
    assert all(d in delivered for d in ("d1", "d2", "d4", "d5"))


def test_a_missing_topic_means_nothing_delivered() -> None:
    delivered = make(FakeLog(partitions=None))
    assert delivered.catch_up() == 0 and len(delivered) == 0


def test_memory_is_bounded_by_age_and_count() -> None:
    log = FakeLog(partitions=1)
    log.parts[0] += [outcome("old", ts=NOW - 2 * DAY), outcome("new", ts=NOW - DAY // 2)]
    delivered = make(log, horizon_ms=DAY)
    delivered.catch_up()
    assert "old" not in delivered and "new" in delivered  # no alert that old is left to resend
    log = FakeLog(partitions=1)
    log.parts[0] += [outcome(f"d{i}", ts=NOW - 1000 + i) for i in range(30)]
    delivered = make(log, max_entries=10)
    delivered.catch_up()
    assert len(delivered) == 10 and delivered.evicted == 20
    assert all(f"d{i}" in delivered for i in range(20, 30))  # the newest are kept
    delivered.add("d99", NOW)
    assert "d99" in delivered


def test_a_partition_without_eof_is_an_error_not_a_hang() -> None:
    log = FakeLog(partitions=1)
    delivered = make(log, stall_timeout_s=0.3)
    consumer = log.consumer()
    consumer.assign = lambda tps: setattr(consumer, "queue", [])  # never any EOF
    delivered._consumer = lambda: consumer  # type: ignore[method-assign]
    with pytest.raises(PlatestreamError, match="not read to the end"):
        delivered.catch_up()


def test_current_reads_when_stale_and_retries_a_failed_read() -> None:
    log = FakeLog()
    log.parts[1].append(outcome("d1"))
    log.fail_next = 1
    delivered = make(log, retry_s=0.01)

    async def go() -> None:
        await asyncio.gather(delivered.current(), delivered.current())  # one read, not two
        assert "d1" in delivered and not delivered.stale
        await delivered.current()  # up to date: no read
        log.parts[0].append(outcome("d2"))
        delivered.mark_stale()  # a partition assignment
        await delivered.current()

    asyncio.run(go())
    assert "d2" in delivered
    assert len(log.assigned) == 2


@pytest.mark.integration
def test_reads_past_the_local_brokers_high_watermark(settings) -> None:
    """The local broker reports the last batch's base offset + 1 as its high watermark; every
    delivery of a large last batch must still be seen, at start and when catching up."""
    topic = settings.topic(catalogue.ALERT_DELIVERIES.name)
    producer = make_producer(settings, **{"linger.ms": 50})

    def batch(prefix: str, n: int) -> None:
        for i in range(n):
            producer.produce(topic, key=b"A-1", value=outcome(f"{prefix}{i}"), partition=0)
        assert producer.flush(10) == 0

    batch("a", 200)

    def consumer() -> Consumer:
        return Consumer(StateFollower.consumer_config(settings.kafka_common()))

    delivered = DeliveredLog(topic=topic, serde=SERDE, consumer=consumer, horizon_ms=-1)
    assert delivered.catch_up() == 200
    assert all(f"a{i}" in delivered for i in range(200))
    batch("b", 150)
    assert delivered.catch_up() == 150
    assert len(delivered) == 350
