"""`platestream bench soak`: moderate load for minutes, memory and lag per stage over time.

Unbounded growth shows as a steady RSS slope once caches have filled, so the check fits a
least-squares line to each stage's RSS over the second half of the run and fails when its slope
exceeds a threshold (MiB per minute). Lag must come back down at the end (no stage left behind).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from platestream import topics as catalogue
from platestream.bench import harness, probes
from platestream.bench.load import ReadFactory, RecordPump
from platestream.bench.prepare import bolo_entries, produce_all, warm_up
from platestream.benchutil import ProcessSampler, machine
from platestream.serde import AvroSerde
from platestream.settings import PROJECT_ROOT, CommonSettings
from platestream.timeutil import iso_utc

logger = logging.getLogger(__name__)


@dataclass
class SoakOptions:
    minutes: float = 10.0
    rate: float = 1000.0
    max_slope_mib_per_min: float = 2.0
    # Growth over the second half smaller than this is not called a leak whatever its slope: in a
    # short run, a lag spike at the end (records buffered for the next insert) is a step of a few
    # MiB that the least-squares slope turns into MiB per minute.
    min_growth_mib: float = 0.0
    report_every_s: float = 30.0
    alert_every: int = 2000
    stages: list[str] = field(default_factory=lambda: ["enrich", "sink"])
    stage_env: dict[str, str] = field(default_factory=dict)  # e.g. smaller caches for a short soak
    log_dir: Path = PROJECT_ROOT / "var" / "log" / "soak"


def slope_per_min(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of (seconds, value) points, in value units per minute."""
    n = len(points)
    if n < 3:
        return None
    mx = sum(t for t, _ in points) / n
    my = sum(v for _, v in points) / n
    var = sum((t - mx) ** 2 for t, _ in points)
    if var == 0:
        return None
    return sum((t - mx) * (v - my) for t, v in points) / var * 60.0


def memory_verdict(
    samples: list[dict[str, Any]], names: list[str], max_slope: float, min_growth: float = 0.0
) -> dict[str, Any]:
    """Per process: RSS slope over the second half and over the last quarter of the run.

    Bounded when either slope is under ``max_slope``: a cache that fills up shows as growth that
    stops (the last quarter is flat), a leak as growth that goes on through both windows. Also
    bounded when the last RSS is at most ``min_growth`` MiB above the first half's maximum.
    """
    if not samples:
        return {name: {"slope_mib_per_min": None, "bounded": False} for name in names}
    t_end = samples[-1]["t"]
    out: dict[str, Any] = {}
    for name in names:
        rss = [(s["t"], s[name]["rss_mib"]) for s in samples if s.get(name)]
        half = slope_per_min([(t, v) for t, v in rss if t >= t_end / 2])
        quarter = slope_per_min([(t, v) for t, v in rss if t >= t_end * 3 / 4])
        slopes = [x for x in (half, quarter) if x is not None]
        first_max = max((v for t, v in rss if t < t_end / 2), default=0.0)
        grown = rss[-1][1] - first_max if rss else 0.0
        out[name] = {
            "slope_mib_per_min": round(half, 3) if half is not None else None,
            "slope_last_quarter_mib_per_min": round(quarter, 3) if quarter is not None else None,
            "rss_mib_first_half_max": round(first_max, 1),
            "rss_mib_last": round(rss[-1][1], 1) if rss else None,
            "bounded": bool(slopes) and (min(slopes) <= max_slope or grown <= min_growth),
        }
    return out


def run(
    base: CommonSettings, opts: SoakOptions, echo: Callable[[str], None] = print
) -> dict[str, Any]:
    with harness.live_stack(base) as (stack_settings, _stack):
        run_id = harness.new_run_id("soak")
        settings = harness.isolated(stack_settings, run_id)
        try:
            harness.prepare_namespace(settings)
            return _run(settings, opts, run_id, echo)
        finally:
            harness.drop_namespace(settings)


def _run(
    settings: CommonSettings, opts: SoakOptions, run_id: str, echo: Callable[[str], None]
) -> dict[str, Any]:
    serde = AvroSerde(settings=settings)
    seconds = opts.minutes * 60
    total = int(opts.rate * seconds)
    bolo = settings.topic(catalogue.BOLO.name)
    produce_all(
        settings, bolo, bolo_entries(run_id, range(0, total, opts.alert_every), serde, bolo)
    )
    reads_topic = settings.topic(catalogue.PLATE_READS.name)
    db = settings.clickhouse_database
    factory = ReadFactory(run_id)
    pump = RecordPump(
        settings=settings,
        topic=catalogue.PLATE_READS,
        make=factory.read,
        record_id=lambda r: r["read_id"],
        key=lambda r: r["camera_id"],
        rate=opts.rate,
        seconds=seconds,
        serde=serde,
    )
    groups = {
        "enrich": (harness.group_id(settings, "platestream-enrich"), [reads_topic]),
        "sink-clickhouse": (
            harness.group_id(settings, "platestream-sink-clickhouse"),
            [reads_topic, settings.topic(catalogue.PLATE_EVENTS.name)],
        ),
    }
    lag = probes.LagSampler(
        settings=settings, groups=groups, interval_s=5.0, known_ends=lambda: dict(pump.ends)
    )
    rows = probes.RowCounter(
        settings=settings,
        tables={"plate_reads": f"{db}.plate_reads", "plate_events": f"{db}.plate_events"},
        interval_s=5.0,
    )
    result: dict[str, Any] = {
        "command": "platestream bench soak",
        "options": {k: str(v) for k, v in asdict(opts).items()},
        "run_id": run_id,
        "machine": machine(),
        "started_at": iso_utc(),
    }
    extra = {name: dict(opts.stage_env) for name in opts.stages}
    with (
        harness.Stages(settings, opts.stages, opts.log_dir / run_id, extra_env=extra) as stages,
        contextlib.ExitStack() as cleanup,
    ):
        canaries = warm_up(settings, stages, serde, factory, None, backlog=False)
        sampler = ProcessSampler(stages.pids(), interval_s=5.0).start()
        lag.start()
        rows.start()
        for stopper in (sampler.stop, lag.stop, rows.stop, pump.stop.set):
            cleanup.callback(stopper)
        pump.start()
        t0 = time.monotonic()
        next_report = opts.report_every_s
        while pump._thread is not None and pump._thread.is_alive():
            time.sleep(1.0)
            elapsed = time.monotonic() - t0
            if elapsed >= next_report:
                next_report += opts.report_every_s
                echo(_progress_line(elapsed, sampler.samples, lag.series, rows.series))
        pump.join(120)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if (
                rows.series
                and (rows.series[-1].get("plate_reads") or 0) >= pump.stats.produced + canaries
            ):
                break
            time.sleep(1.0)
        time.sleep(6.0)  # one more lag sample after the drain
        sampler.stop()
        lag.stop()
        rows.stop()
        restarts = dict(stages.supervisor.restarts)
        alive = stages.alive()
    verdict = memory_verdict(
        sampler.samples, list(stages.pids()), opts.max_slope_mib_per_min, opts.min_growth_mib
    )
    final_lag = {k: v["last"] for k, v in lag.summary().items()}
    stored = (rows.series[-1].get("plate_reads") or 0) - canaries if rows.series else 0
    result.update(
        {
            "produced": pump.stats.produced,
            "rate_achieved": round(pump.stats.rate(), 1),
            "stored_reads": stored,
            "restarts": restarts,
            "alive_at_end": alive,
            "memory": verdict,
            "final_lag": final_lag,
            "lag": lag.summary(),
            "processes": sampler.summary(),
            "load_avg": [round(x, 2) for x in os.getloadavg()],
            "series": {
                "rows": rows.series,
                "lag": lag.series,
                "processes": sampler.samples,
                "produced": pump.stats.series,
            },
            "tables": {"plate_reads": f"{db}.plate_reads", "plate_events": f"{db}.plate_events"},
        }
    )
    problems = [
        f"{n}: RSS grows {v['slope_mib_per_min']} MiB/min"
        for n, v in verdict.items()
        if not v["bounded"]
    ]
    problems += [f"{n} restarted {c} times" for n, c in restarts.items() if c]
    problems += [f"{n} not running at the end" for n, ok in alive.items() if not ok]
    if (stored or 0) < pump.stats.produced:
        problems.append(f"only {stored} of {pump.stats.produced} reads reached ClickHouse")
    result["verdict"] = problems
    result["passed"] = not problems
    return result


def _progress_line(
    elapsed: float,
    procs: list[dict[str, Any]],
    lag: list[dict[str, Any]],
    rows: list[dict[str, Any]],
) -> str:
    parts = [f"[{elapsed / 60:5.1f} min]"]
    if procs:
        last = procs[-1]
        parts += [f"{n} {v['rss_mib']:.0f} MiB" for n, v in last.items() if n != "t" and v]
    if lag:
        parts += [f"lag {n} {v}" for n, v in lag[-1].items() if n != "t"]
    if rows:
        parts.append(f"reads stored {rows[-1].get('plate_reads')}")
    return "  ".join(parts)


def summary_text(result: dict[str, Any]) -> str:
    lines = [
        f"soak {result['run_id']}: {result['produced']:,} reads at {result['rate_achieved']}/s,"
        f" {result['stored_reads']:,} stored; load avg {result['load_avg']}"
    ]
    for name, v in result["memory"].items():
        lines.append(
            f"  {name:10} RSS last {v['rss_mib_last']} MiB, slope over 2nd half "
            f"{v['slope_mib_per_min']} MiB/min, over the last quarter {v['slope_last_quarter_mib_per_min']}"
            f" MiB/min -> {'bounded' if v['bounded'] else 'GROWING'}"
        )
    for name, v in result["final_lag"].items():
        lines.append(f"  lag {name} at the end: {v} (approximate: local broker watermark)")
    lines.append("PASS" if result["passed"] else "FAIL: " + "; ".join(result["verdict"]))
    return "\n".join(lines)
