"""`platestream bench anomalies`: plate events/s through the clone detector in one process.

The processor's own ``process`` over encoded plate events (decode, camera lookup, check, encode
and hand the anomalies to a producer that only counts), in batches of the configured size, as
`platestream anomalies` runs them after consume. Traffic: a city of 40 cameras on 20 km, plates
drawn from a pool, each seen at its home site only, and 0.5 % of passages a planted clone (the
previous plate again at once, at a site across town).
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import typer

from platestream.bench.inmemory import CountingProducer, InMemoryMessage
from platestream.bench.reference import in_units
from platestream.benchutil import machine, machine_line, write_json
from platestream.ids import stable_id
from platestream.runtime import freeze_long_lived
from platestream.serde import AvroSerde

CAMERAS = 40
T0 = 1_767_225_600_000  # 2026-01-01T00:00Z


def camera_records(n: int = CAMERAS) -> list[dict[str, Any]]:
    """Cameras on a 20 km square grid of sites, two cameras per site."""
    rng = random.Random(7)
    out = []
    for i in range(n):
        site = i // 2
        out.append(
            {
                "camera_id": f"cam-{i:03d}",
                "name": f"Camera {i}",
                "site": f"site-{site:02d}",
                "lat": 51.40 + (site % 5) * 0.045 + rng.random() * 0.001,
                "lon": -0.20 + (site // 5) * 0.072 + rng.random() * 0.001,
                "updated_at": T0,
            }
        )
    return out


def plate_events(n: int, plates: int, seed: int = 42) -> list[dict[str, Any]]:
    """``n`` version-0 plate events, 50 per second of event time, with planted clones."""
    rng = random.Random(seed)
    pool = [f"{rng.randrange(26**3):05d}{rng.randrange(1000):03d}" for _ in range(plates)]
    out: list[dict[str, Any]] = []
    last_plate, last_cam = "", 0
    for i in range(n):
        ts = T0 + i * 20
        clone = i > 0 and rng.random() < 0.005
        k = rng.randrange(plates)
        # a plate's own traffic stays on the two cameras of its home site (never compared); a
        # planted clone is the previous plate at a camera of a site across town
        plate = last_plate if clone else pool[k]
        home = (k % (CAMERAS // 2)) * 2 + rng.randrange(2)
        cam = (last_cam + CAMERAS // 2) % CAMERAS if clone else home
        last_plate, last_cam = plate, cam
        out.append(
            {
                "event_id": stable_id("bench-anomaly", seed, i),
                "version": 0,
                "camera_id": f"cam-{cam:03d}",
                "lane": 1,
                "plate": plate,
                "confidence": 0.93,
                "plate_format": None,
                "country": None,
                "ts": ts,
                "first_seen": ts - 300,
                "last_seen": ts,
                "read_count": 3,
                "variants": [plate],
                "read_ids": [stable_id("bench-read", seed, i)],
                "best_read_id": stable_id("bench-read", seed, i),
                "best_crop": None,
                "images": [],
                "source": "detector",
                "direction": "approaching",
                "vehicle_type": "car",
                "vehicle_color": "white",
                "vehicle_make": None,
                "vehicle_model": None,
                "camera_name": None,
                "site": None,
                "zone": None,
                "lat": None,
                "lon": None,
                "heading": None,
                "access_status": "unknown",
                "watchlist_hits": [],
                "correction_id": None,
                "received_at": ts + 50,
                "emitted_at": ts + 3000,
            }
        )
    return out


def bench_in_process(events: int, plates: int) -> dict[str, Any]:
    from services.enrich.enrichment import Cameras
    from services.investigate.processor import AnomalyProcessor
    from services.investigate.settings import AnomalySettings

    settings = AnomalySettings()
    serde = AvroSerde()
    cameras = Cameras()
    for rec in camera_records():
        cameras.apply(rec["camera_id"], rec)
    producer = CountingProducer()
    proc = AnomalyProcessor(
        settings=settings,
        consumer=None,  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        serde=serde,
        cameras=cameras,
    )
    topic = proc.events_topic
    msgs = [
        InMemoryMessage(
            topic, i % 6, i // 6, serde.encode("plate_event", r), r["camera_id"].encode(), r["ts"]
        )
        for i, r in enumerate(plate_events(events, plates))
    ]
    freeze_long_lived()
    batch = settings.anomaly_batch_size
    chunk = 20_000
    rates: list[float] = []
    t0, c0 = time.perf_counter(), time.process_time()
    for start in range(0, len(msgs), chunk):
        tc = time.perf_counter()
        part = msgs[start : start + chunk]
        for i in range(0, len(part), batch):
            proc.process(part[i : i + batch])  # type: ignore[arg-type]
        rates.append(len(part) / (time.perf_counter() - tc))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    rates.sort()
    return {
        "events": events,
        "plates": plates,
        "elapsed_s": round(elapsed, 3),
        "cpu_s": round(cpu, 3),
        "events_per_s": round(events / elapsed),
        "events_per_cpu_s": round(events / cpu),
        "chunk_events_per_s_best": round(rates[-1]),
        "chunk_events_per_s_median": round(rates[len(rates) // 2]),
        "anomalies": producer.count,
        **proc.stats.as_dict(),
        "plates_remembered": len(proc.detector),
    }


def run_bench(
    *, json_out: Path | None, events: int, plates: int, broker: bool, backlog: int, clones: int
) -> None:
    info = machine()
    typer.echo(machine_line(info))
    r = bench_in_process(events, plates)
    r["cpu_us_per_event"] = round(1e6 / r["events_per_cpu_s"], 2)
    r["ru_per_event"] = in_units(r["cpu_us_per_event"], info["reference_unit_us"])
    typer.echo(
        f"in-process: {r['events']} plate events over {r['plates']} plates -> {r['events_per_s']}/s wall"
        f" ({r['events_per_cpu_s']} per CPU-second; best 20k chunk {r['chunk_events_per_s_best']}/s,"
        f" median {r['chunk_events_per_s_median']}/s); {r['clones']} clones, {r['misreads']} misreads;"
        f" CPU per event {r['cpu_us_per_event']} us = {r['ru_per_event']} ru"
    )
    payload: dict[str, Any] = {"machine": info, "in_process": r}
    if broker:
        from services.investigate.bench_broker import bench_broker

        b = bench_broker(backlog, clones)
        lat = b["latency"]
        typer.echo(
            f"through the broker: backlog of {b['backlog_events']} plate events drained at"
            f" {b['events_per_s']}/s wall, {b['events_per_cpu_s']} per CPU-second"
            f" (start {b['startup_s']} s)"
        )
        typer.echo(
            f"anomaly latency, second sighting produced -> anomaly read: p50 {lat['p50_ms']} ms,"
            f" p99 {lat['p99_ms']} ms, max {lat['max_ms']} ms ({lat['anomalies_seen']}/"
            f"{lat['clones_sent']} planted clones, ~{lat['background_events_per_s']} background"
            f" events/s); in the processor (log time -> emitted) p99 {lat['logged_to_emitted_p99_ms']} ms"
        )
        payload["broker"] = b
    payload["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    write_json(json_out, payload)
