"""Helpers for the enrich tests: record builders, a processor running in a thread, topic readers."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, TopicPartition

from platestream import topics as catalogue
from platestream.kafka import make_producer
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms

SERDE = AvroSerde()


def plate_read(
    read_id: str,
    camera: str,
    plate: str,
    ts: int,
    conf: float = 0.8,
    *,
    lane: int | None = 1,
    box: tuple[int, int, int, int] = (100, 100, 120, 30),
    received_at: int | None = None,
) -> dict[str, Any]:
    return {
        "read_id": read_id,
        "frame_id": f"f-{read_id}",
        "camera_id": camera,
        "ts": ts,
        "plate": plate,
        "confidence": conf,
        "plate_box": dict(zip("xywh", box, strict=True)),
        "lane": lane,
        "received_at": received_at if received_at is not None else now_ms(),
    }


def camera_event(
    event_id: str, camera: str, plate: str | None, ts: int, conf: float | None = 0.9
) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "source": "hikvision",
        "camera_id": camera,
        "ts": ts,
        "received_at": now_ms(),
        "plate": plate,
        "confidence": conf,
        "lane": 1,
        "direction_raw": "forward",
    }


def bolo_entry(entry_id: str, pattern: str, match_type: str = "exact", **kw: Any) -> dict[str, Any]:
    return {
        "entry_id": entry_id,
        "list_id": kw.pop("list_id", "stolen"),
        "list_kind": kw.pop("list_kind", "bolo"),
        "pattern": pattern,
        "match_type": match_type,
        "priority": kw.pop("priority", "high"),
        "reason": "test",
        "updated_at": now_ms(),
        **kw,
    }


class Pipe:
    """Produces catalogue records to the test's topics."""

    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings
        self.producer = make_producer(settings, **{"linger.ms": 1})

    def send(
        self, base_topic: str, schema: str | None, key: str, record: dict[str, Any] | bytes | None
    ) -> None:
        topic = self.settings.topic(base_topic)
        if isinstance(record, bytes) or record is None:
            value = record
        else:
            assert schema is not None
            value = SERDE.encode(schema, record, subject=f"{topic}-value")
        self.producer.produce(topic, key=key.encode(), value=value)

    def read(self, rec: dict[str, Any]) -> None:
        self.send(catalogue.PLATE_READS.name, "plate_read", rec["camera_id"], rec)

    def flush(self) -> None:
        assert self.producer.flush(10) == 0


class TopicReader:
    """Reads every partition of a topic from the beginning, decoding values."""

    def __init__(self, settings: CommonSettings, base_topic: str) -> None:
        self.topic = settings.topic(base_topic)
        self.consumer = Consumer(
            {
                **settings.kafka_common(),
                "group.id": f"reader-{uuid.uuid4()}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 20,
            }
        )
        md = self.consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        self.consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in md.partitions]
        )
        self.records: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self.positions: list[tuple[int, int]] = []  # (partition, offset) of each record

    def poll(self, timeout: float = 0.05) -> int:
        n = 0
        for msg in self.consumer.consume(num_messages=1000, timeout=timeout):
            if msg.error() is not None:
                if msg.error().code() != KafkaError._PARTITION_EOF:
                    raise RuntimeError(str(msg.error()))
                continue
            self.records.append(SERDE.decode(msg.value()))
            self.arrivals.append(time.time())
            self.positions.append((msg.partition(), msg.offset()))
            n += 1
        return n

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 20.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.poll()
            if predicate(self.records):
                return self.records
        raise AssertionError(
            f"timed out on {self.topic}; have {len(self.records)} records: {self.records[:5]}"
        )

    def settle(self, seconds: float) -> list[dict[str, Any]]:
        """Keep reading for ``seconds`` (to prove nothing more arrives)."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.poll()
        return self.records

    def close(self) -> None:
        self.consumer.close()


@contextmanager
def running_enrich(
    settings: Any, *, timeout: float = 30.0, batch_pause_s: float = 0.0
) -> Iterator[Any]:
    """An EnrichProcessor (and its lookout) in a thread, ready (state loaded, partitions
    assigned); stopped on exit. ``batch_pause_s``: a pause after every batch, to emulate a
    machine too slow for the load."""
    from services.enrich.cli import build_processor, run_processor

    stop = threading.Event()
    errors: list[BaseException] = []
    with ExitStack() as stack:
        processor = build_processor(settings, stack)
        if batch_pause_s:
            process = processor.process

            def slow(msgs: list[Any]) -> None:
                process(msgs)
                time.sleep(batch_pause_s)

            processor.process = slow  # type: ignore[method-assign]

        def target() -> None:
            try:
                run_processor(processor, stop)
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(target=target, name="enrich-test", daemon=True)
        thread.start()
        deadline = time.monotonic() + timeout
        want = len(processor.input_topics())
        while len({t for t, _ in processor.assigned}) < want:
            if errors:
                raise errors[0]
            if time.monotonic() > deadline:
                stop.set()
                raise AssertionError("enrich processor did not get its partitions in time")
            time.sleep(0.05)
        try:
            yield processor
        finally:
            stop.set()
            thread.join(timeout=30)
            assert not thread.is_alive(), "processor thread did not stop"
        if errors:
            raise errors[0]


@contextmanager
def stage_process(stage: str, env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """``platestream <stage>`` as its own process, output appended to ``log``; an assertion that
    fails inside carries the log's tail; the process is stopped on exit (killed if it must be)."""
    with log.open("ab") as log_fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "platestream.cli", stage],
            env=env,
            stdout=log_fh,
            stderr=subprocess.STDOUT,
        )
        try:
            yield proc
        except AssertionError as exc:
            raise AssertionError(
                f"{exc}\n{stage} log:\n{log.read_text(errors='replace')[-3000:]}"
            ) from None
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
