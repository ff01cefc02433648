"""The broker phase of `platestream bench anomalies`: the clone detector through Kafka.

On the configured stack when it answers, else on an ephemeral local stack (memory broker) started
for the run. Two figures: the rate at which the processor drains a backlog of plate events, and
the latency of an anomaly: from the moment the second sighting of a planted clone is produced to
the moment its anomaly is read from anpr.anomalies.v1, under steady background traffic.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from platestream.benchutil import percentile
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings


@contextlib.contextmanager
def some_stack(*, own: bool = False) -> Iterator[CommonSettings]:
    """The configured stack if healthy (unless ``own``), else an ephemeral local one (stopped at
    the end)."""
    from platestream.settings import common
    from platestream.stack import LocalStack, pick_free_ports

    base = common()
    try:
        if not own and LocalStack(base).healthy():
            yield base
            return
    except Exception:  # not healthy: start our own
        pass
    var_dir = Path(tempfile.mkdtemp(prefix="platestream-bench-"))
    broker, s3, ch = pick_free_ports()
    s = base.model_copy(
        update={
            "kafka_bootstrap": f"127.0.0.1:{broker}",
            "s3_endpoint": f"http://127.0.0.1:{s3}",
            "clickhouse_url": f"http://127.0.0.1:{ch}",
            "var_dir": var_dir,
        }
    )
    local = LocalStack(s, var_dir=var_dir, ephemeral=True, die_with_parent=True)
    try:
        local.up()
        yield s
    finally:
        local.down()
        shutil.rmtree(var_dir, ignore_errors=True)


def bench_broker(backlog: int, clones: int, background_per_s: int = 2000) -> dict[str, Any]:
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    from platestream import topics as catalogue
    from platestream.kafka import create_topics, make_producer
    from services.investigate.bench import camera_records, plate_events
    from services.investigate.cli import build_processor
    from services.investigate.settings import AnomalySettings

    serde = AvroSerde()
    with some_stack() as stack_settings, ExitStack() as stack:
        s = AnomalySettings(
            **{
                **stack_settings.model_dump(),
                "topic_prefix": f"bench{uuid.uuid4().hex[:8]}.",
                "anomaly_linger_ms": 1,
            }
        )
        create_topics(s)
        producer = make_producer(s, **{"linger.ms": 5})
        for cam in camera_records():
            producer.produce(
                s.topic(catalogue.CAMERAS.name),
                key=cam["camera_id"].encode(),
                value=serde.encode("camera", cam),
            )
        events_topic = s.topic(catalogue.PLATE_EVENTS.name)
        now = int(time.time() * 1000)
        for rec in plate_events(backlog, max(1000, backlog // 2), seed=11):
            rec["ts"] += now - 86_400_000  # yesterday: the detector's window is event time
            producer.produce(
                events_topic, key=rec["camera_id"].encode(), value=serde.encode("plate_event", rec)
            )
            producer.poll(0)
        producer.flush(60)
        proc = build_processor(s, stack)
        stop = threading.Event()
        thread = threading.Thread(target=proc.run, args=(stop,), daemon=True)
        t_start = time.monotonic()
        thread.start()
        try:
            first = None
            deadline = time.monotonic() + 600
            while proc.stats.events < backlog and time.monotonic() < deadline:
                if first is None and proc.stats.events > 0:
                    first, first_count = time.monotonic(), proc.stats.events
                    cpu0 = time.process_time()
                time.sleep(0.01)
            drained, cpu = time.monotonic(), time.process_time() - cpu0
            if first is None or proc.stats.events < backlog:
                raise RuntimeError(f"backlog not drained: {proc.stats.events}/{backlog}")
            result: dict[str, Any] = {
                "backlog_events": backlog,
                "startup_s": round(first - t_start, 2),
                "events_per_s": round((backlog - first_count) / max(drained - first, 1e-3)),
                # CPU of this whole process (processor thread and librdkafka's threads)
                "events_per_cpu_s": round((backlog - first_count) / max(cpu, 1e-3)),
                "backlog_anomalies": proc.stats.clones + proc.stats.misreads,
            }
            consumer = Consumer(
                {
                    **s.kafka_common(),
                    "group.id": f"bench-{uuid.uuid4()}",
                    "enable.auto.commit": False,
                    "fetch.wait.max.ms": 5,
                }
            )
            stack.callback(consumer.close)
            topic = s.topic(catalogue.ANOMALIES.name)
            md = consumer.list_topics(topic, timeout=10).topics[topic]
            consumer.assign([TopicPartition(topic, p, OFFSET_END) for p in md.partitions])
            consumer.consume(num_messages=1000, timeout=1.0)
            result["latency"] = _latency(s, serde, producer, consumer, clones, background_per_s)
        finally:
            stop.set()
            thread.join(30)
        return result


def _latency(
    s: Any, serde: AvroSerde, producer: Any, consumer: Any, n: int, rate: int
) -> dict[str, Any]:
    """Planted clones at ~20/s among ``rate`` background events/s; produce -> anomaly read."""
    from platestream import topics as catalogue
    from services.investigate.bench import plate_events

    events_topic = s.topic(catalogue.PLATE_EVENTS.name)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    in_process: list[float] = []
    stop = threading.Event()

    def collect() -> None:
        while not stop.is_set():
            for msg in consumer.consume(num_messages=100, timeout=0.05):
                if msg.error() is not None:
                    continue
                rec = serde.decode(msg.value())
                t = sent.pop(rec["second"]["event_id"], None)
                if t is not None:
                    latencies.append((time.time() - t) * 1000)
                    if rec.get("event_logged_at"):
                        in_process.append(rec["emitted_at"] - rec["event_logged_at"])

    th = threading.Thread(target=collect, daemon=True)
    th.start()
    background = plate_events(n * rate // 20, 50_000, seed=99)
    per_tick = rate // 20
    t0 = time.monotonic()
    try:
        for i in range(n):
            now = int(time.time() * 1000)
            for rec in background[i * per_tick : (i + 1) * per_tick]:
                rec["ts"] = now
                producer.produce(
                    events_topic,
                    key=rec["camera_id"].encode(),
                    value=serde.encode("plate_event", rec),
                )
            plate = f"CLN{i:05d}"
            a, b = plate_events(2, 1, seed=100_000 + i)
            # a is a second older than b, so b is the anomaly's second sighting whichever of the
            # two the detector reads first (they are on different partitions)
            for rec, cam, ts in ((a, "cam-000", now - 1000), (b, "cam-039", now)):
                rec.update(plate=plate, variants=[plate], camera_id=cam, ts=ts)
            producer.produce(events_topic, key=b"cam-000", value=serde.encode("plate_event", a))
            producer.flush(5)  # the first sighting is in the log before the second is sent
            sent[b["event_id"]] = time.time()
            producer.produce(events_topic, key=b"cam-039", value=serde.encode("plate_event", b))
            producer.poll(0)
            time.sleep(0.05)
        producer.flush(10)
        elapsed = time.monotonic() - t0
        deadline = time.monotonic() + 15
        while len(latencies) < n and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        th.join(5)
    return {
        "clones_sent": n,
        "anomalies_seen": len(latencies),
        "background_events_per_s": round(n * per_tick / elapsed),
        "p50_ms": round(percentile(latencies, 50) or -1, 1),
        "p99_ms": round(percentile(latencies, 99) or -1, 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
        "logged_to_emitted_p99_ms": percentile(in_process, 99),
    }
