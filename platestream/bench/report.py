"""Turning a benchmark or soak result into a PNG (matplotlib), a text summary and a fault table."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any


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
