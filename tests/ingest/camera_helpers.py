"""Helpers of the camera-manager tests: publish camera records, read frames and statuses back."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from platestream import topics as catalogue
from platestream.kafka import make_producer
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms

SERDE = AvroSerde()


def camera_record(camera_id: str, url: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "camera_id": camera_id,
        "name": camera_id,
        "stream_url": url,
        "updated_at": now_ms(),
        "updated_by": "test",
        **kw,
    }


class Cameras:
    """Writes camera records to the cameras topic, as the API does."""

    def __init__(self, settings: CommonSettings) -> None:
        self._producer = make_producer(settings)
        self._topic = settings.topic(catalogue.CAMERAS.name)

    def put(self, camera_id: str, url: str | None, **kw: Any) -> None:
        value = SERDE.encode("camera", camera_record(camera_id, url, **kw))
        self._producer.produce(self._topic, key=camera_id.encode(), value=value)
        self._producer.flush(10)

    def delete(self, camera_id: str) -> None:
        self._producer.produce(self._topic, key=camera_id.encode(), value=None)
        self._producer.flush(10)


# Readers a test did not close (it failed first) are closed after it by tests/ingest/conftest.py:
# a consumer left to the garbage collector was seen to crash the test process (segfault).
OPEN_READERS: list[TopicReader] = []


class TopicReader:
    """Every record of one topic from the beginning, decoded; ``wait_for`` polls until a predicate."""

    def __init__(self, settings: CommonSettings, topic: catalogue.Topic) -> None:
        name = settings.topic(topic.name)
        self._consumer = Consumer(
            {
                **settings.kafka_common(),
                "group.id": f"test-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 100,
            }
        )
        md = self._consumer.list_topics(name, timeout=10).topics[name]
        self._consumer.assign([TopicPartition(name, p, OFFSET_BEGINNING) for p in md.partitions])
        self.records: list[dict[str, Any]] = []
        self.arrived: list[float] = []  # monotonic time each record was read
        OPEN_READERS.append(self)

    def poll(self, timeout: float = 0.2) -> list[dict[str, Any]]:
        new = []
        for msg in self._consumer.consume(500, timeout):
            if msg.error() is None and msg.value() is not None:
                new.append(SERDE.decode(msg.value()))
        self.records.extend(new)
        self.arrived.extend(time.monotonic() for _ in new)
        return new

    def mark(self) -> int:
        """Read what has arrived; the position to pass as ``after`` to see only later records."""
        while self.poll(0.1):
            pass
        return len(self.records)

    def wait_for(
        self, pred: Callable[[dict[str, Any]], bool], timeout: float, what: str, after: int = 0
    ) -> dict[str, Any]:
        """The first record from ``after`` on that satisfies ``pred``; AssertionError on timeout."""
        for rec in self.records[after:]:
            if pred(rec):
                return rec
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for rec in self.poll():
                if pred(rec):
                    return rec
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    def close(self) -> None:
        if self in OPEN_READERS:
            OPEN_READERS.remove(self)
            self._consumer.close()
