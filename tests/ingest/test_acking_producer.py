"""AckingProducer: a delivery report without an offset is not a write, and a fatal producer error
(e.g. fenced after a broker outage) replaces the producer instead of failing every later push."""

from __future__ import annotations

import time
from concurrent.futures import Future

import pytest
from confluent_kafka import KafkaError

from services.ingest.publisher import AckingProducer, DeliveryError


class FakeMessage:
    def __init__(self, offset: int) -> None:
        self._offset = offset

    def offset(self) -> int:
        return self._offset


class FakeProducer:
    """Calls on_delivery on poll with a scripted (error, offset)."""

    def __init__(self, outcomes: list[tuple[KafkaError | None, int]]) -> None:
        self.outcomes = outcomes
        self.pending: list = []
        self.produced = 0
        self.purged = False
        self.headers: list = []

    def produce(self, topic, key=None, value=None, headers=None, on_delivery=None):
        self.produced += 1
        self.headers.append(headers)
        self.pending.append(on_delivery)

    def poll(self, timeout):
        while self.pending:
            cb = self.pending.pop(0)
            err, offset = self.outcomes.pop(0)
            cb(err, FakeMessage(offset))
        time.sleep(min(timeout, 0.005))

    def purge(self):
        self.purged = True

    def flush(self, timeout=None):
        return 0


def _wait(fut: Future, timeout: float = 20.0):  # generous: a loaded CI machine
    return fut.result(timeout=timeout)


def test_report_without_offset_is_a_delivery_error():
    acking = AckingProducer(
        producer=FakeProducer([(None, -1001), (None, 42)]), poll_interval=0.01
    ).start()
    try:
        with pytest.raises(DeliveryError, match="without an offset"):
            _wait(acking.produce_future("t", key=b"k", value=b"v"))
        assert _wait(acking.produce_future("t", key=b"k", value=b"v")).offset() == 42
    finally:
        acking.close(1)


@pytest.mark.parametrize(
    "error",
    [
        KafkaError(KafkaError._FENCED, "fenced", fatal=True),
        # what the local broker answers after its S3 store came back: not flagged fatal
        KafkaError(KafkaError.PRODUCER_FENCED, "fenced by a newer producer"),
    ],
    ids=["fatal", "producer-fenced"],
)
def test_fatal_error_replaces_the_producer(error):
    fatal = error
    first = FakeProducer([(fatal, -1)])
    second = FakeProducer([(None, 7)])
    acking = AckingProducer(producer=first, poll_interval=0.01, factory=lambda: second).start()
    try:
        with pytest.raises(DeliveryError):
            _wait(acking.produce_future("t", key=None, value=b"v"))
        deadline = time.monotonic() + 20
        # the new producer is put in place first, then the old one purged: wait for both
        while not (acking.producer is second and first.purged) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert acking.producer is second and first.purged
        assert _wait(acking.produce_future("t", key=None, value=b"v")).offset() == 7
        assert acking.current().produced == 1  # the stand-in forwards to the new producer
    finally:
        acking.close(1)


def test_records_carry_the_event_type_and_a_new_trace():
    from platestream import topics as catalogue
    from platestream.tracing import trace_id

    fake = FakeProducer([(None, 1), (None, 2)])
    acking = AckingProducer(producer=fake, poll_interval=0.01).start()
    try:
        for _ in range(2):
            _wait(acking.produce_future(f"t1.{catalogue.PLATE_READS.name}", key=b"k", value=b"v"))
    finally:
        acking.close(1)
    first, second = (dict(h) for h in fake.headers)
    assert first["event-type"] == b"io.platestream.anpr.PlateRead"
    assert trace_id(first["traceparent"]) and trace_id(second["traceparent"])
    assert trace_id(first["traceparent"]) != trace_id(second["traceparent"])
