"""Helpers shared by the benchmark commands: percentiles, process sampling, JSON output, the broker reference."""

from __future__ import annotations

import json
import statistics
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from platestream.settings import CommonSettings


def percentile(values: Iterable[float], q: float) -> float | None:
    """q in [0, 100]; nearest-rank on the sorted values; None when empty."""
    data = sorted(values)
    if not data:
        return None
    k = max(0, min(len(data) - 1, round(q / 100 * (len(data) - 1))))
    return data[k]


def median(values: Iterable[float]) -> float | None:
    data = list(values)
    return statistics.median(data) if data else None


def machine() -> dict[str, Any]:
    """The machine a benchmark ran on, its load, and the reference unit measured now
    (platestream/bench/reference.py): CPU figures divided by it compare across machines."""
    import platform

    from platestream.bench.reference import reference_unit_us

    load = psutil.getloadavg()
    return {
        "cpus": psutil.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1m_at_start": round(load[0], 2),
        "load_avg_5m_at_start": round(load[1], 2),
        "reference_unit_us": reference_unit_us(),
    }


def machine_line(info: dict[str, Any]) -> str:
    """One line for a benchmark's output: cpus, load, and the reference unit."""
    return (
        f"machine: {info['cpus']} cpus, load {info['load_avg_1m_at_start']} at start"
        + (" (contended: other work is running)" if info["load_avg_1m_at_start"] > 0.5 else "")
        + f"; reference unit 1 ru = {info['reference_unit_us']} us CPU"
        " (Avro decode+encode of one fixed read, measured now)"
    )


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")


@dataclass
class ProcessSampler:
    """Samples CPU % and RSS of named processes every ``interval_s`` in a thread."""

    pids: dict[str, int]
    interval_s: float = 1.0
    samples: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ProcessSampler:
        procs = {}
        for name, pid in self.pids.items():
            try:
                procs[name] = psutil.Process(pid)
                procs[name].cpu_percent(None)
            except psutil.Error:
                continue

        def loop() -> None:
            t0 = time.monotonic()
            while not self._stop.wait(self.interval_s):
                row: dict[str, Any] = {"t": round(time.monotonic() - t0, 2)}
                for name, proc in procs.items():
                    try:
                        with proc.oneshot():
                            row[name] = {
                                "cpu": proc.cpu_percent(None),
                                "rss_mib": proc.memory_info().rss / 2**20,
                            }
                    except psutil.Error:
                        row[name] = None
                self.samples.append(row)

        self._thread = threading.Thread(target=loop, name="proc-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> list[dict[str, Any]]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        return self.samples

    def summary(self) -> dict[str, dict[str, float | None]]:
        out: dict[str, dict[str, float | None]] = {}
        for name in self.pids:
            rows = [s[name] for s in self.samples if s.get(name)]
            out[name] = {
                "cpu_median": median(r["cpu"] for r in rows),
                "rss_mib_max": max((r["rss_mib"] for r in rows), default=None),
                "rss_mib_last": rows[-1]["rss_mib"] if rows else None,
            }
        return out


def broker_reference(
    settings: CommonSettings, *, messages: int = 100_000, size: int = 250
) -> dict[str, float]:
    """Raw produce and consume rate of the broker with confluent-kafka, on a throwaway topic."""
    from platestream import topics as catalogue
    from platestream.kafka import create_topics, make_consumer, make_producer

    name = f"bench.reference.{uuid.uuid4().hex[:8]}"
    topic = catalogue.Topic(name, "plate_read", "none", 6, 3_600_000)
    create_topics(settings.model_copy(update={"topic_prefix": ""}), [topic])
    payload = b"x" * size
    producer = make_producer(settings, **{"linger.ms": 20, "compression.type": "none"})
    t0 = time.perf_counter()
    for i in range(messages):
        while True:
            try:
                producer.produce(name, key=str(i % 64).encode(), value=payload)
                break
            except BufferError:
                producer.poll(0.05)
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(60)
    produce_s = time.perf_counter() - t0
    consumer = make_consumer(settings, f"bench-ref-{uuid.uuid4().hex[:8]}")
    consumer.subscribe([name])
    got = 0
    t0 = time.perf_counter()
    deadline = t0 + 120
    first = None
    while got < messages and time.perf_counter() < deadline:
        batch = consumer.consume(num_messages=5000, timeout=1.0)
        if batch and first is None:
            first = time.perf_counter()
        got += sum(1 for m in batch if m.error() is None)
    consume_s = time.perf_counter() - (first or t0)
    consumer.close()
    return {
        "messages": messages,
        "message_bytes": size,
        "produce_msgs_per_s": round(messages / produce_s),
        "consume_msgs_per_s": round(got / consume_s) if consume_s > 0 else 0.0,
        "consumed": got,
    }
