"""`platestream bench cameras`: one camera manager process running N ``sim://`` cameras at F fps.

The manager runs as its own process (`platestream ingest cameras --alone`) on the live local stack
(or a private one the harness starts) in a namespace of its own. Cameras are created as records
on the cameras topic, as the API does. After a warm-up (every camera has sent a frame) it measures
for ``seconds``: frames per second that reached the frames topic, the manager's CPU seconds per
frame sent (which holds on a busy machine, where a starved manager sends fewer frames) and the
share of a core one camera needs at the target fps, and the backlog: how far behind capture the
frames arrive (first half vs second half of the window; a growing backlog shows as a rising
lag), and frames the sources dropped (from their heartbeats). Several short runs; medians.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from platestream import topics as catalogue
from platestream.bench import harness
from platestream.benchutil import machine, median, percentile
from platestream.settings import CommonSettings, load

logger = logging.getLogger(__name__)


def _counter(settings: CommonSettings, topic_def: catalogue.Topic, *, from_end: bool) -> Any:
    import uuid

    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

    topic = settings.topic(topic_def.name)
    start = OFFSET_END if from_end else OFFSET_BEGINNING
    consumer = Consumer(
        {
            **settings.kafka_common(),
            "group.id": f"camera-bench-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 100,
        }
    )
    parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    consumer.assign([TopicPartition(topic, p, start) for p in parts])
    return consumer


def run_once(
    common: CommonSettings, *, run: int, cameras: int, fps: float, seconds: float, width: int
) -> dict[str, Any]:
    from platestream.kafka import make_producer
    from platestream.serde import AvroSerde
    from platestream.timeutil import now_ms

    serde = AvroSerde(settings=common)
    prefix = f"bench{run}-"
    env = harness.stage_env(
        common,
        PLATESTREAM_INGEST_MANAGER_ID=f"bench-{run}",
        PLATESTREAM_INGEST_HEARTBEAT_S="2",
        PLATESTREAM_INGEST_CAMERAS_METRICS_PORT="0",
        PLATESTREAM_INGEST_FRAME_DUP_THRESHOLD="0",  # every frame the cap lets through is sent
        PLATESTREAM_LOG_LEVEL="WARNING",
    )
    consumer = _counter(common, catalogue.FRAMES, from_end=True)
    log = Path(tempfile.gettempdir()) / f"camera-bench-{os.getpid()}-{run}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "platestream.cli", "ingest", "cameras", "--alone"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    logger.info("run %d: manager pid %d, log %s", run, proc.pid, log)
    producer = make_producer(common)
    load_start = os.getloadavg()[0]
    try:
        height = width * 9 // 16
        for i in range(cameras):
            cid = f"{prefix}{i:02d}"
            rec = {
                "camera_id": cid,
                "stream_url": f"sim://scene?seed={i}&fps={fps:g}&width={width}&height={height}",
                "fps_cap": fps,
                "updated_at": now_ms(),
            }
            producer.produce(
                common.topic(catalogue.CAMERAS.name),
                key=cid.encode(),
                value=serde.encode("camera", rec),
            )
        producer.flush(10)
        seen: set[str] = set()
        deadline = time.monotonic() + 60
        while len(seen) < cameras:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError(f"only {len(seen)} of {cameras} cameras sent frames; see {log}")
            for msg in consumer.consume(500, 0.2):
                if msg.error() is None and msg.key():
                    seen.add(msg.key().decode())
        logger.info("run %d: all %d cameras sending; measuring %g s", run, cameras, seconds)
        cpu0 = _cpu_s(proc.pid)
        t0 = time.monotonic()
        lags: list[tuple[float, float]] = []  # (seconds into the window, capture -> read ms)
        while time.monotonic() - t0 < seconds:
            for msg in consumer.consume(1000, 0.2):
                if msg.error() is not None or not (msg.key() or b"").startswith(prefix.encode()):
                    continue
                frame = serde.decode(msg.value())
                lags.append((time.monotonic() - t0, now_ms() - int(frame["ts"])))
        wall = time.monotonic() - t0
        cpu_s = _cpu_s(proc.pid) - cpu0
        dropped = _dropped(common, serde, prefix)
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        for i in range(cameras):  # tombstones: the next run starts from an empty desired state
            producer.produce(
                common.topic(catalogue.CAMERAS.name), key=f"{prefix}{i:02d}".encode(), value=None
            )
        producer.flush(10)
        consumer.close()
    log.unlink(missing_ok=True)  # kept only when the run failed
    first = [lag for t, lag in lags if t < wall / 2]
    second = [lag for t, lag in lags if t >= wall / 2]
    return {
        "frames": len(lags),
        "wall_s": round(wall, 2),
        "frames_per_s": round(len(lags) / wall, 1),
        "target_frames_per_s": cameras * fps,
        "manager_cpu_pct": round(100 * cpu_s / wall, 1),
        # CPU per frame is what holds on a busy machine too (a starved manager sends fewer
        # frames but each costs the same); a camera at the target fps needs fps times that
        "cpu_ms_per_frame": round(1000 * cpu_s / max(1, len(lags)), 2),
        "cpu_pct_per_camera_at_target": round(100 * cpu_s / max(1, len(lags)) * fps, 2),
        "lag_p50_ms_first_half": _r(percentile(first, 50)),
        "lag_p50_ms_second_half": _r(percentile(second, 50)),
        "lag_p95_ms": _r(percentile([lag for _, lag in lags], 95)),
        "frames_dropped": dropped,
        "load_avg_1m": [round(load_start, 2), round(os.getloadavg()[0], 2)],
    }


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process so far (its threads included)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _dropped(common: CommonSettings, serde: Any, prefix: str) -> int:
    """Frames the sources dropped (send backlog full or refused), from their last heartbeats."""
    consumer = _counter(common, catalogue.CAMERA_STATUS, from_end=False)
    last: dict[str, int] = {}
    deadline = time.monotonic() + 10  # the sources keep sending heartbeats: read for a while
    try:
        idle = 0
        while idle < 3 and time.monotonic() < deadline:
            msgs = consumer.consume(1000, 0.5)
            idle = 0 if msgs else idle + 1
            for msg in msgs:
                if msg.error() is None and (msg.key() or b"").startswith(prefix.encode()):
                    status = serde.decode(msg.value())
                    last[status["camera_id"]] = status.get("frames_dropped") or 0
    finally:
        consumer.close()
    return sum(last.values())


def _r(v: float | None) -> float | None:
    return None if v is None else round(v, 1)


def run(*, runs: int, cameras: int, fps: float, seconds: float, width: int) -> dict[str, Any]:
    base = load(CommonSettings)
    run_id = harness.new_run_id("camerabench")
    with harness.live_stack(base) as (stack_settings, own):
        common = harness.isolated(stack_settings, run_id)
        from platestream.kafka import create_topics
        from platestream.s3 import ensure_bucket, make_s3

        create_topics(common)
        ensure_bucket(make_s3(common), common.s3_bucket)
        try:
            results = [
                run_once(common, run=i, cameras=cameras, fps=fps, seconds=seconds, width=width)
                for i in range(runs)
            ]
        finally:
            harness.drop_namespace(common)

    def med(key: str) -> float | None:
        return median(r[key] for r in results if r[key] is not None)

    return {
        "bench": "cameras",
        "run_id": run_id,
        "machine": machine(),
        "cpu_count": psutil.cpu_count(),
        "private_stack": own is not None,
        "cameras": cameras,
        "fps": fps,
        "frame_size": f"{width}x{width * 9 // 16} JPEG q85",
        "runs": results,
        "median": {
            k: med(k)
            for k in (
                "frames_per_s",
                "manager_cpu_pct",
                "cpu_ms_per_frame",
                "cpu_pct_per_camera_at_target",
                "lag_p50_ms_first_half",
                "lag_p50_ms_second_half",
                "lag_p95_ms",
            )
        },
    }


def summary_text(result: dict[str, Any]) -> str:
    m = result["median"]
    lines = [
        f"camera bench {result['run_id']}: one manager, {result['cameras']} sim:// cameras at "
        f"{result['fps']:g} fps ({result['frame_size']}), {result['machine']['cpus']} CPUs",
    ]
    for r in result["runs"]:
        lines.append(
            f"  run: {r['frames_per_s']:>6} frames/s of {r['target_frames_per_s']:g}  manager CPU "
            f"{r['manager_cpu_pct']}% ({r['cpu_ms_per_frame']} ms/frame, "
            f"{r['cpu_pct_per_camera_at_target']}% of a core per camera at the target)  lag p50 "
            f"{r['lag_p50_ms_first_half']} -> {r['lag_p50_ms_second_half']} ms, p95 "
            f"{r['lag_p95_ms']} ms  dropped {r['frames_dropped']}  load {r['load_avg_1m']}"
        )
    lines.append(
        f"  median: {m['frames_per_s']} frames/s, {m['cpu_ms_per_frame']} CPU ms per frame "
        f"({m['cpu_pct_per_camera_at_target']}% of a core per camera at {result['fps']:g} fps), "
        f"lag p50 {m['lag_p50_ms_first_half']} -> {m['lag_p50_ms_second_half']} ms"
    )
    return "\n".join(lines)
