"""`platestream bench enrich`: serde cost, in-process reads/s, reads/s through the broker, alert latency.

1. serde: decode and encode cost (CPU time) per PlateRead through the core AvroSerde.
2. in-process: pre-encoded reads (noisy passages at many cameras) through decode + dedup + watchlist
   match against ``entries`` entries + enrichment + encoding of events and alerts, producer stubbed.
3. broker (needs the stack): a backlog of reads on a fresh topic prefix, consumed by a real
   ``platestream enrich`` process (its own process, as deployed); reads/s from its metrics.
   Then alert latency: reads that hit a BOLO entry, produced at a steady rate alongside background
   reads; latency = arrival of the alert at a consumer minus the moment the read was produced.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import typer

from platestream.bench.inmemory import CountingProducer, InMemoryMessage
from platestream.bench.reference import in_units, reference_unit_us
from platestream.benchutil import machine, machine_line, percentile, write_json
from platestream.runtime import freeze_long_lived
from platestream.serde import AvroSerde
from platestream.stack.ports import free_port
from services.enrich.bench_data import make_entries, make_reads, random_plate

logger = logging.getLogger(__name__)


def bench_serde(n: int = 20_000) -> dict[str, float]:
    core = AvroSerde()
    rec = make_reads(1, cameras=1, t0=1_763_700_000_000, rng=random.Random(1), hot=[])[0]
    data = core.encode("plate_read", rec)
    out: dict[str, float] = {"record_bytes": len(data)}
    for label, fn in (
        ("core_decode_us", lambda: core.decode(data)),
        ("core_encode_us", lambda: core.encode("plate_read", rec)),
    ):
        t = time.process_time()
        for _ in range(n):
            fn()
        out[label] = round((time.process_time() - t) / n * 1e6, 2)
    return out


def bench_in_process(reads: int, entries: int) -> dict[str, Any]:
    from platestream.timeutil import now_ms
    from services.enrich.bolo import Entry, Watchlists
    from services.enrich.processor import EnrichProcessor
    from services.enrich.settings import EnrichSettings

    rng = random.Random(42)
    settings = EnrichSettings(enrich_metrics_port=0)
    t = time.perf_counter()
    recs, hot = make_entries(entries, rng)
    wl = Watchlists()
    wl.load(Entry.from_record(r) for r in recs)
    load_s = time.perf_counter() - t
    core = AvroSerde()
    producer = CountingProducer()
    proc = EnrichProcessor(
        settings=settings,
        consumer=None,  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        serde=core,  # type: ignore[arg-type]
        watchlists=wl,
        clock=now_ms,
    )
    rows = make_reads(reads, cameras=500, t0=now_ms() - 3_600_000, rng=rng, hot=hot)
    topic = proc.reads_topic
    msgs = [
        InMemoryMessage(topic, i % 6, i // 6, core.encode("plate_read", r), r["camera_id"].encode())
        for i, r in enumerate(rows)
    ]
    # As `platestream enrich` does after loading its state. This also hides the benchmark's own
    # inputs (records that a deployed processor gets as C-level message buffers, not objects).
    freeze_long_lived()
    batch = settings.enrich_batch_size
    chunk = 10_000  # rates per chunk of 10,000 reads: on a shared machine the best chunk is the least disturbed
    rates: list[float] = []
    units: list[float] = []  # CPU per read / reference unit, the unit measured after each chunk
    elapsed = cpu = 0.0
    for start in range(0, len(msgs), chunk):
        tc, cc = time.perf_counter(), time.process_time()
        part = msgs[start : start + chunk]
        for i in range(0, len(part), batch):
            proc.process(part[i : i + batch])  # type: ignore[arg-type]
            proc.close_due()
        wall, used = time.perf_counter() - tc, time.process_time() - cc
        elapsed, cpu = elapsed + wall, cpu + used
        rates.append(len(part) / wall)
        units.append(used / len(part) * 1e6 / reference_unit_us(n=2_000, repeats=1))
    rates.sort()
    return {
        "reads": reads,
        "watchlist_entries": len(wl),
        "watchlist_load_s": round(load_s, 2),
        "elapsed_s": round(elapsed, 3),
        "cpu_s": round(cpu, 3),
        "reads_per_s": round(reads / elapsed),
        "reads_per_cpu_s": round(reads / cpu),
        "chunk_reads_per_s_best": round(rates[-1]),
        "chunk_reads_per_s_median": round(rates[len(rates) // 2]),
        "ru_per_read_interleaved": round(statistics.median(units), 2),
        "events": proc.stats.events,
        "alerts": proc.stats.alerts,
        "absorbed": proc.stats.absorbed,
        "open_passages_left": sum(1 for _ in proc.tracker.passages()),
    }


def _metric(port: int, name: str) -> float | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as resp:
            for line in resp.read().decode().splitlines():
                if line.startswith(name + " "):
                    return float(line.split()[1])
    except OSError:
        return None
    return None


def bench_broker(reads: int, entries: int, alerts: int) -> dict[str, Any]:
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    from platestream import topics as catalogue
    from platestream.kafka import create_topics, make_admin, make_producer
    from platestream.settings import common
    from platestream.timeutil import now_ms

    base = common()
    s = base.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:8]}."})
    create_topics(s)
    serde = AvroSerde()
    rng = random.Random(7)
    producer = make_producer(s, **{"linger.ms": 20})
    recs, hot = make_entries(entries, rng)
    bolo_topic = s.topic(catalogue.BOLO.name)
    for r in recs:
        producer.produce(
            bolo_topic, key=r["entry_id"].encode(), value=serde.encode("bolo_entry", r)
        )
        producer.poll(0)
    reads_topic = s.topic(catalogue.PLATE_READS.name)
    rows = make_reads(reads, cameras=500, t0=now_ms() - 3_600_000, rng=rng, hot=hot)
    for r in rows:
        producer.produce(
            reads_topic, key=r["camera_id"].encode(), value=serde.encode("plate_read", r)
        )
        producer.poll(0)
    producer.flush(60)
    port = free_port()
    env = {
        **os.environ,
        "PLATESTREAM_TOPIC_PREFIX": s.topic_prefix,
        "PLATESTREAM_ENRICH_METRICS_PORT": str(port),
        "PLATESTREAM_LOG_LEVEL": "WARNING",
    }
    t_start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "platestream.cli", "enrich"], env=env)
    result: dict[str, Any] = {"reads": reads, "watchlist_entries": len(recs)}
    try:
        first = last = None
        deadline = time.monotonic() + 300
        seen = 0.0
        while time.monotonic() < deadline:
            value = _metric(port, "platestream_enrich_reads_total")
            now = time.monotonic()
            if value is not None and value > 0 and first is None:
                first = now
                result["startup_s"] = round(now - t_start, 2)  # includes reading 100k entries
                first_count = value
            if value is not None and value >= reads:
                last = now
                seen = value
                break
            if proc.poll() is not None:
                raise RuntimeError(f"enrich exited with {proc.returncode}")
            time.sleep(0.05)
        if first is None or last is None:
            raise RuntimeError(f"enrich did not finish the backlog in time (saw {seen})")
        result["elapsed_s"] = round(last - first, 2)
        result["reads_per_s"] = round((reads - first_count) / max(last - first, 1e-3))
        result["alert_latency"] = _alert_latency(s, serde, producer, hot, alerts, rng)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        try:
            admin = make_admin(s)
            doomed = [
                n for n in admin.list_topics(timeout=5).topics if n.startswith(s.topic_prefix)
            ]
            admin.delete_topics(doomed, operation_timeout=10)
        except Exception as exc:  # cleanup only
            logger.info("bench topics not deleted: %s", exc)
    del OFFSET_BEGINNING, Consumer, TopicPartition
    return result


def _alert_latency(
    s: Any, serde: AvroSerde, producer: Any, hot: list[str], n: int, rng: random.Random
) -> dict[str, Any]:
    """Hits at ~20/s with ~2,000 background reads/s; latency read produced -> alert consumed."""
    from confluent_kafka import OFFSET_END, Consumer, TopicPartition

    from platestream import topics as catalogue
    from platestream.timeutil import now_ms

    alerts_topic = s.topic(catalogue.ALERTS.name)
    reads_topic = s.topic(catalogue.PLATE_READS.name)
    c = Consumer(
        {
            **s.kafka_common(),
            "group.id": f"bench-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
        }
    )
    md = c.list_topics(alerts_topic, timeout=10).topics[alerts_topic]
    c.assign([TopicPartition(alerts_topic, p, OFFSET_END) for p in md.partitions])
    c.consume(num_messages=1000, timeout=1.0)
    sent: dict[str, float] = {}
    latencies: list[float] = []
    stop = threading.Event()

    def collect() -> None:
        while not stop.is_set():
            for msg in c.consume(num_messages=100, timeout=0.05):
                if msg.error() is not None:
                    continue
                rec = serde.decode(msg.value())
                t = sent.pop(
                    rec.get("read_id") or "", None
                )  # first alert of a read (entries may overlap)
                if t is not None and rec.get("early"):
                    latencies.append((time.time() - t) * 1000)

    th = threading.Thread(target=collect, daemon=True)
    th.start()
    try:
        for i in range(n):
            for _ in range(100):  # background reads
                plate = random_plate(rng)
                cam = f"cam-{rng.randrange(500):04d}"
                r = {
                    "read_id": str(uuid.uuid4()),
                    "frame_id": "f",
                    "camera_id": cam,
                    "ts": now_ms(),
                    "plate": plate,
                    "confidence": 0.7,
                    "plate_box": {"x": 1, "y": 1, "w": 80, "h": 20},
                    "received_at": now_ms(),
                }
                producer.produce(reads_topic, key=cam.encode(), value=serde.encode("plate_read", r))
            rid = str(uuid.uuid4())
            cam = f"hot-{i % 50}"
            r = {
                "read_id": rid,
                "frame_id": "f",
                "camera_id": cam,
                "ts": now_ms() + i * 10_000,
                "plate": hot[i % len(hot)],
                "confidence": 0.97,
                "plate_box": {"x": 1, "y": 1, "w": 80, "h": 20},
                "received_at": now_ms(),
            }
            payload = serde.encode("plate_read", r)
            sent[rid] = time.time()
            producer.produce(reads_topic, key=cam.encode(), value=payload)
            producer.poll(0)
            time.sleep(0.05)
        producer.flush(10)
        deadline = time.monotonic() + 10
        while len(latencies) < n and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        th.join(5)
        c.close()
    return {
        "alerts_sent": n,
        "alerts_seen": len(latencies),
        "background_reads_per_s": 2000,
        "p50_ms": round(percentile(latencies, 50) or -1, 1),
        "p99_ms": round(percentile(latencies, 99) or -1, 1),
        "max_ms": round(max(latencies), 1) if latencies else None,
    }


def run_bench(
    *, json_out: Path | None, reads: int, entries: int, broker: bool, broker_reads: int, alerts: int
) -> None:
    info = machine()
    typer.echo(machine_line(info))
    serde = bench_serde()
    typer.echo(
        f"serde per PlateRead ({serde['record_bytes']:.0f} B), CPU time: decode {serde['core_decode_us']} us, "
        f"encode {serde['core_encode_us']} us ("
        f"{in_units(serde['core_decode_us'] + serde['core_encode_us'], info['reference_unit_us'])} ru)"
    )
    inproc = bench_in_process(reads, entries)
    inproc["cpu_us_per_read"] = round(1e6 / inproc["reads_per_cpu_s"], 2)
    inproc["ru_per_read"] = in_units(inproc["cpu_us_per_read"], info["reference_unit_us"])
    typer.echo(
        f"in-process: {inproc['reads']} reads, {inproc['watchlist_entries']} entries -> "
        f"{inproc['reads_per_s']} reads/s wall ({inproc['reads_per_cpu_s']} per CPU-second; best 10k chunk "
        f"{inproc['chunk_reads_per_s_best']}/s, median {inproc['chunk_reads_per_s_median']}/s); "
        f"{inproc['events']} events, {inproc['alerts']} alerts, {inproc['absorbed']} absorbed; "
        f"CPU per read {inproc['cpu_us_per_read']} us = {inproc['ru_per_read']} ru (median per"
        f" chunk, unit measured after each chunk: {inproc['ru_per_read_interleaved']} ru)"
    )
    payload: dict[str, Any] = {"machine": info, "serde": serde, "in_process": inproc}
    if broker:
        try:
            b = bench_broker(broker_reads, entries, alerts)
        except Exception as exc:
            typer.echo(f"broker phase skipped: {exc}")
            payload["broker"] = {"error": str(exc)}
        else:
            lat = b["alert_latency"]
            typer.echo(
                f"through the broker: {b['reads']} reads at {b['reads_per_s']} reads/s "
                f"(start with {b['watchlist_entries']} entries: {b.get('startup_s')} s)"
            )
            typer.echo(
                f"alert latency read -> alert on topic: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms "
                f"({lat['alerts_seen']}/{lat['alerts_sent']} alerts, ~{lat['background_reads_per_s']} background reads/s)"
            )
            payload["broker"] = b
    payload["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    write_json(json_out, payload)
