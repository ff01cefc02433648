"""The local broker holds a fetch for much of ``fetch.wait.max.ms`` even when records are there.

Kafka answers a fetch as soon as ``fetch.min.bytes`` (1 by default) are in the log, so the wait
costs nothing there. The local broker (tansu) does not: each consumer hop adds a good part of the
wait (docs/local-stack.md). What the pipeline benchmark reports as the time an alert reached its
topic therefore includes one such hold in the benchmark's own watcher, which is why it also
reports the time enrich wrote the alert (platestream/bench/probes.py, ``TopicWatcher``).
"""

from __future__ import annotations

import statistics
import threading
import time
import uuid

import pytest
from confluent_kafka import OFFSET_END, Consumer, TopicPartition

from platestream import topics as catalogue
from platestream.kafka import consumer_config, make_producer
from platestream.settings import CommonSettings

pytestmark = [pytest.mark.integration, pytest.mark.broker_gap]


def _hop_ms(
    settings: CommonSettings, topic: str, fetch_wait_ms: int, records: int = 20
) -> list[float]:
    """Produce one record to partition 0 every 137 ms; per record, produce -> consume in ms."""
    consumer = Consumer(
        consumer_config(
            settings, f"g-{uuid.uuid4().hex[:8]}", **{"fetch.wait.max.ms": fetch_wait_ms}
        )
    )
    consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
    hops: list[float] = []
    stop = threading.Event()
    run = uuid.uuid4().hex[:8].encode()  # the topic's end is approximate here: skip other runs'

    def consume() -> None:
        while not stop.is_set():
            for msg in consumer.consume(100, timeout=0.1):
                mark, _, sent = (msg.value() or b"").partition(b":")
                if msg.error() is None and mark == run:
                    hops.append(time.time() * 1000 - float(sent))

    reader = threading.Thread(target=consume)
    reader.start()
    producer = make_producer(settings, **{"linger.ms": 0})
    try:
        time.sleep(1.0)  # the consumer has fetched once
        for _ in range(records):
            time.sleep(0.137)
            producer.produce(topic, value=run + b":%f" % (time.time() * 1000), partition=0)
            producer.poll(0)
        producer.flush(10)
        deadline = time.monotonic() + 5
        while len(hops) < records and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        reader.join()
        consumer.close()
    assert len(hops) == records
    return hops


def test_a_fetch_is_held_even_when_records_are_there(settings: CommonSettings) -> None:
    topic = settings.topic(catalogue.AUDIT.name)  # any topic: each run reads only what it wrote
    long_wait = statistics.median(_hop_ms(settings, topic, 500))
    short_wait = statistics.median(_hop_ms(settings, topic, 20))
    # Kafka: a few ms either way. Here (measured): about 190 ms against about 55 ms.
    assert long_wait > 100, long_wait
    assert long_wait > 2 * short_wait, (long_wait, short_wait)
