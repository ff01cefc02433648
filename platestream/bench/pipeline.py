"""`platestream bench pipeline`: the pipeline end to end under generated load, with its figures.

Reads (and, unless ``--no-detect``, a few real photos as frames) are produced at a steady rate
into an isolated namespace; the real enrich and sink stages (and detect) run as subprocesses;
probes measure rows reaching ClickHouse, freshness of sampled ids, alerts, consumer lag, and CPU
and memory of every process. The raw broker rate is measured in the same run as the reference.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from platestream import topics as catalogue
from platestream.bench import harness, pinning
from platestream.bench.load import FrameFactory, ReadFactory, RecordPump
from platestream.bench.pipeline_figures import figures, watch
from platestream.bench.prepare import (
    bolo_entries,
    erasure_requests,
    produce_all,
    warm_up,
)
from platestream.bench.reference import UnitSampler
from platestream.benchutil import ProcessSampler, broker_reference, machine
from platestream.errors import PlatestreamError
from platestream.serde import AvroSerde
from platestream.settings import PROJECT_ROOT, CommonSettings
from platestream.timeutil import iso_utc, now_ms

logger = logging.getLogger(__name__)

# The real photos beside the repository, when there (a lone clone has none: synthetic frames).
IMAGES_DIR = PROJECT_ROOT.parent / "shared" / "datasets" / "openalpr-br"


@dataclass
class PipelineOptions:
    rate: float = 2000.0
    seconds: float = 30.0
    detect: bool = True
    frames_per_s: float = 2.0
    backlog: int = 0  # reads produced before the stages start: measures the drain rate
    sample_every: int = 50
    cameras: int = (
        1000  # reads spread over this many cameras (a camera sees a few vehicles a second)
    )
    alert_every: int = 500
    drain_timeout_s: float = 120.0
    reference_messages: int = 100_000
    keep: bool = False
    stack: str = (
        "auto"  # auto (running stack, else a private memory one) | memory | s3 (private stacks)
    )
    log_dir: Path = PROJECT_ROOT / "var" / "log" / "bench"
    images: Path | None = None  # JPEG photos for the detector; None: IMAGES_DIR, else synthetic
    cpus: int | None = None  # stages and stack pinned to this many cores, the load to the rest
    erasures: int = 0  # plate erasures requested before the run (the sink's filter cost)


def frame_factory(run_id: str, images: Path | None) -> FrameFactory:
    """Frames from ``images`` (must hold *.jpg), else from IMAGES_DIR when present, else synthetic."""
    if images is not None:
        return FrameFactory.from_dir(run_id, images)
    if IMAGES_DIR.is_dir() and any(IMAGES_DIR.glob("*.jpg")):
        return FrameFactory.from_dir(run_id, IMAGES_DIR)
    logger.info("no photo directory (%s): synthetic frames", IMAGES_DIR)
    return FrameFactory.synthetic(run_id)


def run(base: CommonSettings, opts: PipelineOptions) -> dict[str, Any]:
    missing = {"enrich", "sink", *(["detect"] if opts.detect else [])} - set(
        harness.available_stages(("enrich", "sink", "detect"))
    )
    if missing:
        hint = " (or leave the detector out with --no-detect)" if "detect" in missing else ""
        raise PlatestreamError(
            f"stages not available in this checkout: {', '.join(sorted(missing))}{hint}"
        )
    cores = pinning.split(opts.cpus) if opts.cpus else None
    if cores:  # children (a private stack, the stages) inherit this until _run moves it
        pinning.pin_process(os.getpid(), cores[0], children=False)
    with harness.choose_stack(base, opts.stack) as (stack_settings, started_stack):
        run_id = harness.new_run_id("bench")
        settings = harness.isolated(stack_settings, run_id)
        try:
            harness.prepare_namespace(settings)
            return _run(settings, opts, run_id, started_stack is not None, cores)
        finally:
            if not opts.keep:
                harness.drop_namespace(settings)


def pin(pipeline_pids: dict[str, int], cores: tuple[set[int], set[int]]) -> dict[str, Any]:
    """The stages and the stack on ``cores[0]`` (every thread), this process on ``cores[1]``."""
    stage_cores, load_cores = cores
    threads = {name: pinning.pin_process(pid, stage_cores) for name, pid in pipeline_pids.items()}
    pinning.pin_process(os.getpid(), load_cores, children=False)
    logger.info("pinned %s to cores %s; the load generator to %s", threads, stage_cores, load_cores)
    return {
        "stage_cores": sorted(stage_cores),
        "load_cores": sorted(load_cores),
        "threads_pinned": threads,
    }


def _run(
    settings: CommonSettings,
    opts: PipelineOptions,
    run_id: str,
    own_stack: bool,
    cores: tuple[set[int], set[int]] | None = None,
) -> dict[str, Any]:
    serde = AvroSerde(settings=settings)
    total = int(opts.rate * opts.seconds)
    hits = range(0, total + opts.backlog, opts.alert_every) if opts.alert_every else range(0)
    produce_all(
        settings,
        settings.topic(catalogue.BOLO.name),
        bolo_entries(run_id, hits, serde, settings.topic(catalogue.BOLO.name)),
    )
    if opts.erasures:
        erasures_topic = settings.topic(catalogue.ERASURES.name)
        key = settings.privacy_subject_key
        produce_all(
            settings,
            erasures_topic,
            erasure_requests(run_id, opts.erasures, serde, erasures_topic, key),
        )
    result: dict[str, Any] = {
        "command": "platestream bench pipeline",
        "options": {k: str(v) for k, v in asdict(opts).items()},
        "run_id": run_id,
        "machine": machine(),
        "stack": f"private ({opts.stack if opts.stack != 'auto' else 'memory'} broker engine)"
        if own_stack
        else "the running local stack",
        "started_at": iso_utc(),
        "sealed": settings.privacy_seal_topics,  # PLATESTREAM_PRIVACY_SEAL_TOPICS
    }
    logger.info("broker reference: %d messages", opts.reference_messages)
    result["broker_reference"] = broker_reference(settings, messages=opts.reference_messages)

    factory = ReadFactory(run_id, cameras=opts.cameras)
    hot = set(hits)

    def make_read(i: int, received_at: int) -> dict[str, Any]:
        rec = factory.read(i, received_at)
        if i in hot:
            rec["confidence"] = (
                0.97  # single confident read: enrich alerts before the passage closes
            )
        return rec

    backlog_s = 0.0
    if opts.backlog:
        pump = RecordPump(
            settings=settings,
            topic=catalogue.PLATE_READS,
            make=make_read,
            record_id=lambda r: r["read_id"],
            key=lambda r: r["camera_id"],
            rate=10**9,
            seconds=600,
            serde=serde,
        )
        pump.pace.total = opts.backlog
        t0 = time.monotonic()
        pump.seconds = 600
        pump.start()
        while pump.stats.produced < opts.backlog and time.monotonic() - t0 < 600:
            time.sleep(0.1)
        pump.stop.set()
        pump.join(120)
        backlog_s = time.monotonic() - t0
        result["backlog"] = {"reads": pump.stats.produced, "produce_s": round(backlog_s, 2)}

    names = ["enrich", "sink"] + (["detect"] if opts.detect else [])
    stages = harness.Stages(
        settings,
        names,
        opts.log_dir / run_id,
        extra_env={"sink": {"PLATESTREAM_SINK_TARGETS": "clickhouse"}},
    )
    w = watch(settings, detect=opts.detect, hot=hot)
    frames = frame_factory(run_id, opts.images) if opts.detect else None
    with stages, contextlib.ExitStack() as cleanup:
        for probe in w.probes():
            cleanup.callback(probe.stop)
        t_start = time.monotonic()
        w.rows.start()
        w.lag.start()
        canaries = warm_up(
            settings,
            stages,
            serde,
            factory,
            frames if opts.detect else None,
            backlog=opts.backlog > 0,
        )
        result["stages_ready_s"] = round(time.monotonic() - t_start, 2)
        w.alerts.start()
        if not w.alerts.wait_ready(30):
            logger.warning(
                "the alert watcher is not reading yet; first alert latencies may be late"
            )
        pipeline_pids = {**stages.pids(), **harness.stack_pids(settings)}
        if cores:
            result["pinning"] = pin(pipeline_pids, cores)
        w.sampler = ProcessSampler({**pipeline_pids, "loadgen(this process)": os.getpid()})
        cleanup.callback(w.sampler.start().stop)
        w.units = UnitSampler()  # on the stages' cores: the unit their CPU time was spent at
        cleanup.callback(w.units.stop)
        if cores:
            pinning.pin_process(w.units.pid, cores[0], children=False)
        for probe in (w.reads_fresh, w.events_fresh, w.frames_fresh):
            probe.start()

        def track_both(rid: str, ms: int) -> None:
            w.reads_fresh.track(rid, ms)
            w.events_fresh.track(rid, ms)

        pump = RecordPump(
            settings=settings,
            topic=catalogue.PLATE_READS,
            make=make_read,
            record_id=lambda r: r["read_id"],
            key=lambda r: r["camera_id"],
            rate=opts.rate,
            seconds=opts.seconds,
            serde=serde,
            sample_every=opts.sample_every,
            start_index=opts.backlog,
            on_sample=track_both,
        )
        w.pumps.append(pump)
        if frames is not None and opts.frames_per_s > 0:
            fpump = RecordPump(
                settings=settings,
                topic=catalogue.FRAMES,
                make=frames.frame,
                record_id=lambda r: r["frame_id"],
                key=lambda r: r["camera_id"],
                rate=opts.frames_per_s,
                seconds=opts.seconds,
                serde=serde,
                sample_every=1,
                on_sample=w.frames_fresh.track,
                start_index=1,
            )
            w.pumps.append(fpump)
            fpump.start()
        load_t0 = time.monotonic()
        load_start_ms = now_ms()
        pump.start()
        for p in w.pumps:
            p.join(opts.seconds + 120)
        load_s = time.monotonic() - load_t0
        expected = pump.stats.produced + opts.backlog + canaries
        deadline = time.monotonic() + opts.drain_timeout_s
        while time.monotonic() < deadline:
            last = w.rows.series[-1] if w.rows.series else {}
            if (last.get("plate_reads") or 0) >= expected and not w.reads_fresh.pending:
                break
            time.sleep(0.5)
        drained_s = time.monotonic() - load_t0
        time.sleep(
            min(5.0, opts.drain_timeout_s)
        )  # events close after the passage gap; alerts follow
        w.events_fresh.wait_all(10)
        for probe in w.probes():
            probe.stop()
        w.sampler.stop()
        w.units.stop()
        result["restarts"] = dict(stages.supervisor.restarts)
    figures(
        result,
        settings,
        w,
        expected=expected,
        load_s=load_s,
        drained_s=drained_s,
        load_start_ms=load_start_ms,
        detect=opts.detect,
    )
    result["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    if settings.privacy_seal_topics:  # what sealing kept in the key bucket, as the report lists it
        from platestream.privacy.retention import subject_key_report
        from platestream.privacy.shredding import key_bucket
        from platestream.s3 import make_s3

        keys = subject_key_report(make_s3(settings), key_bucket(settings))
        result["subject_key_objects"] = keys.records
    return result
