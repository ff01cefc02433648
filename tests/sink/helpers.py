"""Shared helpers of the sink's integration tests: produce records, run the sink, wait for rows."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from confluent_kafka import Message

from platestream.clickhouse import make_clickhouse
from platestream.kafka import make_consumer, make_producer
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from services.sink import migrations
from services.sink.rows import BY_TABLE
from services.sink.settings import SinkSettings

REPO = Path(__file__).resolve().parents[2]


def sink_settings(settings: CommonSettings, **overrides: Any) -> SinkSettings:
    fields = {"sink_metrics_port": 0, "sink_batch_ms": 200, "sink_backoff_max_s": 2.0, **overrides}
    return SinkSettings(**{**settings.model_dump(), **fields})


def migrated(settings: SinkSettings) -> Any:
    client = make_clickhouse(settings, database="default")
    migrations.migrate(client, settings)
    return client


def produce(
    settings: CommonSettings,
    table: str,
    records: list[dict[str, Any]] | list[bytes],
    *,
    key: bytes | None = None,
) -> list[tuple[int, int]]:
    """Produce records (dicts are Avro-encoded) to the table's topic; returns (partition, offset) each."""
    mapping = BY_TABLE[table]
    topic = settings.topic(mapping.topic.name)
    serde = AvroSerde(settings=settings)
    producer = make_producer(settings)
    placed: list[tuple[int, int]] = []
    errors: list[str] = []

    def report(err: Any, msg: Message) -> None:
        if err is not None:
            errors.append(str(err))
        else:
            placed.append((msg.partition(), msg.offset()))

    for i, rec in enumerate(records):
        value = (
            rec
            if isinstance(rec, bytes)
            else serde.encode(mapping.schema, rec, subject=f"{topic}-value")
        )
        k = (
            key
            if key is not None
            else (rec.get("camera_id", str(i)) if isinstance(rec, dict) else str(i))
        )
        producer.produce(
            topic, key=k.encode() if isinstance(k, str) else k, value=value, on_delivery=report
        )
        if i % 5000 == 4999:
            producer.poll(0)
    assert producer.flush(60) == 0 and not errors, errors
    return placed


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.2) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


def raw_values(
    settings: CommonSettings,
    topic: str,
    expected: int,
    *,
    group: str | None = None,
    timeout: float = 60.0,
) -> list[bytes]:
    """The values of the first ``expected`` records of ``topic``, as the broker holds them (fewer
    when ``timeout`` passes first)."""
    consumer = make_consumer(settings, group or f"{settings.topic_prefix}raw-{time.monotonic_ns()}")
    consumer.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while len(values) < expected and time.monotonic() < deadline:
            values += [
                m.value()
                for m in consumer.consume(num_messages=1000, timeout=1.0)
                if m.error() is None and m.value() is not None
            ]
    finally:
        consumer.close()
    return values


def scalar(client: Any, sql: str) -> Any:
    return client.query(sql).result_rows[0][0]


@contextmanager
def sink_thread(settings: SinkSettings, targets: set[str]) -> Iterator[threading.Event]:
    """Run the sink loops in a thread of this process; stopped and joined on exit."""
    from services.sink import service

    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            service.run(settings, stop, targets)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="test-sink", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "sink did not stop within 30 s"
    assert not errors, errors


def env_for(settings: CommonSettings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_")}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"PLATESTREAM_{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    return env


def start_sink_process(settings: SinkSettings, log: Path, *targets: str) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "platestream.cli", "sink"]
    for t in targets:
        args += ["--target", t]
    with open(log, "ab") as fh:
        return subprocess.Popen(
            args,
            cwd=REPO,
            env=env_for(settings),
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def dead_letters(
    settings: CommonSettings, expected: int, timeout: float = 20.0
) -> list[dict[str, Any]]:
    """Read the sink's dead-letter topic until ``expected`` records arrived (or timeout)."""
    serde = AvroSerde(settings=settings)
    consumer = make_consumer(settings, f"{settings.topic_prefix}test-dlq-reader")
    consumer.subscribe([settings.topic("anpr.dlq.sink.v1")])
    out: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < expected and time.monotonic() < deadline:
            for msg in consumer.consume(100, timeout=0.5):
                if msg.error() is None:
                    out.append(serde.decode(msg.value()))
    finally:
        consumer.close()
    return out


def end_offsets(placed: list[tuple[int, int]]) -> dict[int, int]:
    """partition -> next offset after the last produced record."""
    ends: dict[int, int] = {}
    for p, o in placed:
        ends[p] = max(ends.get(p, 0), o + 1)
    return ends


def committed(
    settings: CommonSettings, group: str, topic: str, partitions: list[int]
) -> dict[int, int]:
    """The offsets a consumer group has committed on a topic."""
    from confluent_kafka import TopicPartition

    consumer = make_consumer(settings, group)
    try:
        got = consumer.committed([TopicPartition(topic, p) for p in partitions], timeout=10)
    finally:
        consumer.close()
    return {tp.partition: tp.offset for tp in got}
