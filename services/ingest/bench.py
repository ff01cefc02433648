"""`platestream bench ingest`: push throughput and latency until Kafka ack, and frame-source throughput.

The push server runs as its own process (`platestream ingest serve`) on a free port, against the
live local stack (or a private one it starts), in a namespace of its own (topic prefix, bucket).
Clients post generic-format events with a small inline JPEG at a fixed concurrency; a push's
latency ends when the server answers 200, which it does only after the broker acknowledged.
The frame-source measurement runs ``sim://`` cameras unpaced through the whole frame path
(render, gate, JPEG encode, Avro, produce, ack).
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
from typing import Any

from platestream.bench import harness
from platestream.benchutil import machine, median, percentile
from platestream.settings import CommonSettings, load
from platestream.stack.ports import free_port
from services.ingest.settings import DeviceConfig, IngestSettings

DEVICE_SECRET = "bench-device-secret"


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _payload(i: int, image_b64: str, run: int) -> bytes:
    return json.dumps(
        {
            "device_event_id": f"bench-{run}-{i}",
            "ts": 1_750_000_000_000 + i,
            "plate": f"BN{i % 100:02d}CH{i % 7}",
            "confidence": 0.9,
            "images": [{"kind": "plate", "data_base64": image_b64}],
        }
    ).encode()


async def _push_run(url: str, n: int, concurrency: int, image_b64: str, run: int) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    counter = iter(range(n))
    headers = {"x-api-key": DEVICE_SECRET, "content-type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0) as client:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                body = _payload(i, image_b64, run)
                t0 = time.perf_counter()
                r = await client.post("/push/generic", content=body, headers=headers)
                if r.status_code == 200:
                    latencies.append((time.perf_counter() - t0) * 1000)
                else:
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    return {
        "events": len(latencies),
        "errors": errors,
        "wall_s": round(wall, 3),
        "events_per_s": round(len(latencies) / wall, 1) if wall else None,
        "p50_ms": round(percentile(latencies, 50) or 0, 2),
        "p99_ms": round(percentile(latencies, 99) or 0, 2),
    }


def _tiny_jpeg() -> str:
    import cv2
    import numpy as np

    from services.ingest import sim

    img, truth = sim.render_frame(1, 5.0)
    x, y, w, h = truth[0]["plate_box"]
    _ok, buf = cv2.imencode(
        ".jpg",
        img[max(0, y) : y + h, max(0, x) : x + w] if w > 0 else np.zeros((45, 180, 3), np.uint8),
    )
    return base64.b64encode(buf.tobytes()).decode()


def _serve(settings: IngestSettings, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, **harness.settings_env(settings)}
    env["PLATESTREAM_INGEST_DEVICES"] = json.dumps(
        {
            "bench-dev": {
                "camera_id": "bench-cam",
                "secret": DEVICE_SECRET,
                "rate_per_s": 1e6,
                "burst": 1_000_000,
            }
        }
    )
    env["PLATESTREAM_INGEST_API_KEYS"] = "false"
    env["PLATESTREAM_LOG_LEVEL"] = "WARNING"
    cmd = [sys.executable, "-m", "platestream.cli", "ingest", "serve", "--port", str(port)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def push_bench(
    settings: IngestSettings, *, runs: int, requests: int, concurrency: int
) -> dict[str, Any]:
    port = free_port()
    proc = _serve(settings, port)
    url = f"http://127.0.0.1:{port}"
    try:
        if not harness.wait_http(f"{url}/health", timeout_s=60):
            err = proc.stderr.read().decode() if proc.poll() is not None and proc.stderr else ""
            raise RuntimeError(f"ingest server did not start: {err[-2000:]}")
        image = _tiny_jpeg()
        asyncio.run(_push_run(url, min(200, requests), concurrency, image, -1))  # warm-up
        results = [
            asyncio.run(_push_run(url, requests, concurrency, image, r)) for r in range(runs)
        ]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    return {
        "runs": results,
        "median_events_per_s": _r(median(r["events_per_s"] for r in results)),
        "median_p50_ms": _r(median(r["p50_ms"] for r in results)),
        "median_p99_ms": _r(median(r["p99_ms"] for r in results)),
        "errors": sum(r["errors"] for r in results),
        "concurrency": concurrency,
        "requests_per_run": requests,
    }


def frame_bench(
    settings: IngestSettings, *, runs: int, frames: int, cameras: int
) -> dict[str, Any]:
    from services.ingest.frames import CameraSpec, FramePublisher, FrameSourceProcessor
    from services.ingest.processor import frame_clients

    s = settings.model_copy(
        update={
            "ingest_frame_fps": 10_000.0,
            "ingest_frame_dup_threshold": 0.0,
            "ingest_heartbeat_s": 3600.0,
        }
    )
    results = []
    with frame_clients(s) as (producer, serde, store, metrics, status):
        publisher = FramePublisher(
            producer=producer, serde=serde, settings=s, store=store, metrics=metrics
        )
        for r in range(runs):
            specs = [
                CameraSpec(
                    camera_id=f"bench-cam-{c}",
                    url=f"sim://scene?seed={c + 1}&fps=10&duration={frames / 10}",
                )
                for c in range(cameras)
            ]
            proc = FrameSourceProcessor(
                cameras=specs,
                frames=publisher,
                status=status,
                settings=s,
                stop=threading.Event(),
                realtime=False,
                reconnect=False,
            )
            t0 = time.perf_counter()
            proc.run()
            producer.producer.flush(30)
            wall = time.perf_counter() - t0
            sent = sum(w.sent for w in proc.workers)
            results.append(
                {
                    "frames": sent,
                    "wall_s": round(wall, 3),
                    "frames_per_s": round(sent / wall, 1),
                    "run": r,
                }
            )
    return {
        "runs": results,
        "median_frames_per_s": _r(median(x["frames_per_s"] for x in results)),
        "cameras": cameras,
        "frames_per_camera": frames,
        "frame_size": "1280x720 JPEG q85",
    }


def run(*, runs: int, requests: int, concurrency: int, frames: int, cameras: int) -> dict[str, Any]:
    base = load(CommonSettings)
    run_id = harness.new_run_id("ingestbench")
    with harness.live_stack(base) as (stack_settings, own):
        common = harness.isolated(stack_settings, run_id)
        from platestream.kafka import create_topics
        from platestream.s3 import ensure_bucket, make_s3

        create_topics(common)
        ensure_bucket(make_s3(common), common.s3_bucket)
        settings = IngestSettings(
            **{
                **common.model_dump(),
                "ingest_api_keys": False,
                "ingest_devices": {
                    "bench-dev": DeviceConfig(camera_id="bench-cam", secret=DEVICE_SECRET)
                },
            }
        )
        try:
            push = push_bench(settings, runs=runs, requests=requests, concurrency=concurrency)
            frame = frame_bench(settings, runs=runs, frames=frames, cameras=cameras)
        finally:
            harness.drop_namespace(common)
    return {
        "bench": "ingest",
        "run_id": run_id,
        "machine": machine(),
        "private_stack": own is not None,
        "push": push,
        "frames": frame,
    }


def summary_text(result: dict[str, Any]) -> str:
    p, f = result["push"], result["frames"]
    lines = [
        f"ingest bench {result['run_id']} ({result['machine']['cpus']} CPUs, load {result['machine']['load_avg_1m_at_start']} at start)",
        f"push (generic JSON + inline JPEG, concurrency {p['concurrency']}, {p['requests_per_run']} per run, {len(p['runs'])} runs):",
    ]
    for r in p["runs"]:
        lines.append(
            f"  run: {r['events_per_s']:>8} events/s  p50 {r['p50_ms']:>7} ms  p99 {r['p99_ms']:>7} ms  errors {r['errors']}"
        )
    lines.append(
        f"  median: {p['median_events_per_s']} events/s, p50 {p['median_p50_ms']} ms, p99 {p['median_p99_ms']} ms until Kafka ack"
    )
    lines.append(
        f"frame sources ({f['cameras']} sim:// cameras x {f['frames_per_camera']} frames, {f['frame_size']}):"
    )
    for r in f["runs"]:
        lines.append(
            f"  run: {r['frames_per_s']:>8} frames/s ({r['frames']} frames in {r['wall_s']} s)"
        )
    lines.append(f"  median: {f['median_frames_per_s']} frames/s")
    return "\n".join(lines)
