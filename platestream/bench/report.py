"""Turning a benchmark or soak result into a PNG (matplotlib), a text summary and a fault table."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from platestream.bench.reference import in_units


def rates(series: list[dict[str, Any]], label: str) -> list[tuple[float, float]]:
    """Per-interval rate of a cumulative count series: (t, count/s)."""
    points = [(r["t"], r[label]) for r in series if r.get(label) is not None]
    out = []
    for (t0, c0), (t1, c1) in itertools.pairwise(points):
        if t1 > t0:
            out.append((t1, (c1 - c0) / (t1 - t0)))
    return out


def plot(result: dict[str, Any], path: Path, title: str) -> Path:
    """Four panels: throughput, consumer lag, CPU and RSS per process, all over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 2, figsize=(13, 8.5))
    ax = axes[0][0]
    produced = result.get("series", {}).get("produced", [])
    for label, series in (("reads produced", produced),):
        pts = rates([{"t": t, "n": n} for t, n in series], "n")
        if pts:
            ax.plot(*zip(*pts, strict=False), label=label)
    rows = result.get("series", {}).get("rows", [])
    for label in result.get("tables", {}):
        pts = rates(rows, label)
        if pts:
            ax.plot(*zip(*pts, strict=False), label=f"{label} rows in ClickHouse")
    ax.set_title("throughput (records/s)")
    ax.set_xlabel("s")
    ax.legend(fontsize=8)
    ax = axes[0][1]
    lag = result.get("series", {}).get("lag", [])
    for label in sorted({k for r in lag for k in r if k != "t"}):
        pts = [(r["t"], r[label]) for r in lag if r.get(label) is not None]
        if pts:
            ax.plot(*zip(*pts, strict=False), label=label)
    ax.set_title("consumer lag (records; approximate on the local broker)")
    ax.set_xlabel("s")
    ax.legend(fontsize=8)
    procs = result.get("series", {}).get("processes", [])
    names = sorted({k for r in procs for k in r if k != "t"})
    for ax, key, ttl in (
        (axes[1][0], "cpu", "CPU % per process (100 = one core)"),
        (axes[1][1], "rss_mib", "RSS MiB per process"),
    ):
        for name in names:
            pts = [(r["t"], r[name][key]) for r in procs if r.get(name)]
            if pts:
                ax.plot(*zip(*pts, strict=False), label=name)
        ax.set_title(ttl)
        ax.set_xlabel("s")
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def fmt(value: Any, unit: str = "") -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.1f}{unit}"
    if isinstance(value, int):
        return f"{value:,}{unit}"
    return f"{value}{unit}"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    """A GitHub-flavoured Markdown table (prints well in a terminal too)."""
    cells = [[fmt(c) for c in row] for row in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)
    ]

    def line(vals: list[str]) -> str:
        return "| " + " | ".join(v.ljust(w) for v, w in zip(vals, widths, strict=True)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(r) for r in cells]
    return "\n".join(out)


def cpu_cost(
    samples: list[dict[str, Any]], rows: int, unit_us: float | None = None, interval_s: float = 1.0
) -> dict[str, Any]:
    """CPU seconds each process used during the run, and per read row, in µs and in reference
    units (``unit_us``, platestream/bench/reference.py): figures that contention does not distort
    (on a shared machine, rows/s only says how much CPU a stage was given) and that compare across
    machines. ``ceiling_rows_per_s_per_core`` = 1 / (CPU seconds per row)."""
    out: dict[str, Any] = {}
    names = {k for row in samples for k in row if k != "t"}
    for name in sorted(names):
        cpu_s = (
            sum((row[name]["cpu"] or 0.0) for row in samples if row.get(name)) / 100.0 * interval_s
        )
        per_row = cpu_s / rows if rows else None
        out[name] = {
            "cpu_s": round(cpu_s, 2),
            "cpu_us_per_read": round(per_row * 1e6, 1) if per_row else None,
            "ru_per_read": in_units(per_row * 1e6, unit_us) if per_row else None,
            "ceiling_rows_per_s_per_core": round(1 / per_row) if per_row else None,
        }
    return out


def unit_text(result: dict[str, Any]) -> str:
    """What one reference unit was in this run: the median through the run when it was sampled
    (`reference.UnitSampler`; the figures per read use it), else the one measured at the start."""
    start = result["machine"].get("reference_unit_us")
    during = result.get("reference_unit_during")
    if not during:
        return f"1 ru = {start} us CPU (reference unit, measured at the start)"
    return (
        f"1 ru = {during['median_us']} us CPU (reference unit, median of {during['n']} measured"
        f" through the run, {during['min_us']}-{during['max_us']}; {start} at the start)"
    )


def summary_text(result: dict[str, Any]) -> str:
    p = result["produced"]
    t = result["throughput"]
    f = result["freshness"]
    ref = result["broker_reference"]
    produced = (
        f"reads produced: {fmt(p['reads'])} at {fmt(p['rate_achieved'])}/s (target {fmt(p['rate_target'])}/s)"
        if "backlog" not in result
        else f"backlog: {fmt(result['backlog']['reads'])} reads written in {result['backlog']['produce_s']} s before the stages started"
    )
    lines = [
        f"run {result['run_id']} on {result['machine']['cpus']} cpus, load avg at start "
        f"{result['machine']['load_avg_1m_at_start']}, at end {result['load_avg']}; {unit_text(result)}",
        f"{produced}; all in ClickHouse after {fmt(p['drained_s'])} s (stack: {result['stack']})",
    ]
    if "pinning" in result:
        pins = result["pinning"]
        lines.append(
            f"  pinned: stages and stack on cores {pins['stage_cores']}, the load generator on"
            f" {pins['load_cores']}"
        )
    for label, v in t.items():
        lines.append(
            f"  {label:13} rows {fmt(v['rows'])}, sustained {fmt(v['rows_per_s'])}/s over {fmt(v['window_s'])} s,"
            f" best 5 s {fmt(v['peak_5s_rows_per_s'])}/s"
        )
    for label, v in f.items():
        extra = f", missing {v['missing']}" if "missing" in v else ""
        lines.append(
            f"  freshness {label:24} p50 {fmt(v['p50_ms'])} ms  p99 {fmt(v['p99_ms'])} ms"
            f"  (n={fmt(v.get('samples', v.get('rows')))}{extra})"
        )
    lines.append(
        f"  broker reference: produce {fmt(ref['produce_msgs_per_s'])}/s, consume {fmt(ref['consume_msgs_per_s'])}/s"
        f" ({ref['message_bytes']} B messages)"
    )
    for name, v in result["lag"].items():
        lines.append(
            f"  lag {name:16} max {fmt(v['max'])}  last {fmt(v['last'])}  (approximate: local broker watermark)"
        )
    for name, v in result["processes"].items():
        c = result.get("cpu_cost", {}).get(name, {})
        lines.append(
            f"  {name:22} cpu median {fmt(v['cpu_median'])} %  rss max {fmt(v['rss_mib_max'])} MiB"
            f"  cpu {fmt(c.get('cpu_s'))} s = {fmt(c.get('cpu_us_per_read'))} us/read"
            f" = {fmt(c.get('ru_per_read'))} ru"
            f" (ceiling {fmt(c.get('ceiling_rows_per_s_per_core'))} reads/s per core)"
        )
    return "\n".join(lines)
