"""The S3 loop without servers: puts retried while the store fails, partitions paused, commit after."""

from __future__ import annotations

import threading
from typing import Any

from platestream.serde import AvroSerde
from services.sink import samples
from services.sink.s3_sink import S3Sink
from services.sink.settings import SinkSettings
from tests.fakes import Record


class FakeConsumer:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.commits: list[Any] = []

    def assignment(self) -> list[str]:
        return ["tp0"]

    def pause(self, parts: list[str]) -> None:
        self.events.append("pause")

    def resume(self, parts: list[str]) -> None:
        self.events.append("resume")

    def commit(self, offsets: Any, asynchronous: bool) -> None:
        self.events.append("commit")
        self.commits.append([(tp.topic, tp.partition, tp.offset) for tp in offsets])


class FlakyS3:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.objects: dict[str, tuple[bytes, str, dict[str, str]]] = {}
        self.lock = threading.Lock()

    def put_object(
        self,
        bucket: str,
        key: str,
        data: Any,
        length: int,
        content_type: str,
        metadata: dict[str, str],
        tags: Any = None,
    ) -> None:
        with self.lock:
            if self.failures > 0:
                self.failures -= 1
                raise ConnectionError("store down")
            self.objects[key] = (data.read(), content_type, metadata)


class NoLetters:
    count = 0


def test_puts_are_retried_and_offsets_committed_only_after_success() -> None:
    settings = SinkSettings(topic_prefix="x.", sink_backoff_initial_s=0.01, sink_backoff_max_s=0.02)
    serde = AvroSerde()
    topic = settings.topic("anpr.plate-reads.v1")
    reads = [samples.plate_read(i, base_ts=1_763_700_000_000, with_crop=True) for i in range(3)]
    msgs = [
        Record(topic, 0, 10 + i, serde.encode("plate_read", r), b"k", [])
        for i, r in enumerate(reads)
    ]
    consumer, s3 = FakeConsumer(), FlakyS3(failures=5)
    sink = S3Sink(
        settings=settings,
        consumer=consumer,
        s3=s3,
        serde=serde,  # type: ignore[arg-type]
        dead_letters=NoLetters(),
        producer=None,
        stop=threading.Event(),
    )  # type: ignore[arg-type]
    sink.process(msgs)  # type: ignore[arg-type]
    assert len(s3.objects) == 3 and sink.stats.written == 3
    assert consumer.events[0] == "pause" and consumer.events[-2:] == ["resume", "commit"]
    assert consumer.commits == [[(topic, 0, 13)]]
    data, ctype, meta = next(iter(s3.objects.values()))
    assert data == samples.TINY_JPEG and ctype == "image/jpeg" and meta["camera-id"]
