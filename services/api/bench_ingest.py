"""Ingest cost of the search indexes: insert the bench rows with and without migration 003's views.

Runs chDB in this process on a throwaway data directory (no stack needed) and inserts the same
generated rows that `platestream bench api` uses into ``plate_events``, once into a database with
every migration and once into one where the five views of 003_search are dropped. CPU seconds of
the process (every chDB thread included) are the figure to compare on a shared machine; wall time
is reported too.

Run: python -m services.api.bench_ingest --rows 200000 --runs 3 [--json F]

``--batch N --inserts K``: instead, what each view of ``plate_events`` costs at the sink's live batch
sizes (a 300 ms flush at 2,000 reads/s is about 600 passages): K inserts of N rows into a database
with every view, into one without each view in turn, and into one without any, the order reversed
every other run; CPU per insert (background merges included) and the saving of each view dropped.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from platestream.benchutil import machine, median, write_json
from services.api.bench import DB, INSERT_SQL
from services.sink.migrations import load_migrations, render, split_statements
from services.sink.settings import SinkSettings

SEARCH_VIEWS = (
    "plate_dictionary_mv",
    "plate_dictionary_reversed_mv",
    "plate_variants_mv",
    "plate_grams_mv",
    "plate_event_index_mv",
    "plate_event_superseded_mv",
    "plate_event_superseded_set_mv",
)


# every materialized view fed by inserts into plate_events (the refreshable ones of 009 are not)
EVENT_VIEWS = (
    *SEARCH_VIEWS,
    "plate_first_last_seen_mv",
    "camera_hourly_counts_mv",
)


def _database(conn: Any, name: str, without: tuple[str, ...] = ()) -> None:
    """A database with every migration, less the views ``without``."""
    conn.query(f"DROP DATABASE IF EXISTS {name}")
    conn.query(f"CREATE DATABASE {name}")
    for mig in load_migrations():
        for stmt in split_statements(render(mig.sql, SinkSettings(), database=name)):
            conn.query(stmt)
    for view in without:
        conn.query(f"DROP VIEW {name}.{view}")


def _first_ts() -> int:
    """Where the bench rows start: 30 days ago at midnight, inside every retention rule (the
    no-hit TTL would drop older rows in background merges)."""
    return (int(time.time() * 1000) // 86_400_000 - 30) * 86_400_000


def measure(rows: int, runs: int) -> dict[str, Any]:
    import chdb

    tmp = Path(tempfile.mkdtemp(prefix="platestream-ingest-"))
    conn = chdb.connect(str(tmp))
    out: dict[str, Any] = {"rows": rows, "runs": runs, "machine": machine()}
    t0 = _first_ts()
    try:
        for label, with_search in (("without_search_views", False), ("with_search_views", True)):
            cpu, wall = [], []
            for run in range(runs):
                name = f"ingest_{int(with_search)}_{run}"
                _database(conn, name, () if with_search else SEARCH_VIEWS)
                sql = INSERT_SQL.replace(f"{DB}.", f"{name}.")
                c0, w0 = time.process_time(), time.perf_counter()
                conn.query(sql, params={"t0": t0, "start": 0, "count": rows})
                cpu.append(time.process_time() - c0)
                wall.append(time.perf_counter() - w0)
            parts = conn.query(
                "SELECT table, sum(rows), sum(bytes_on_disk) FROM system.parts "
                f"WHERE database = '{name}' AND active GROUP BY table ORDER BY table",
                "TabSeparated",
            )
            out[label] = {
                "cpu_s_median": round(median(cpu) or 0, 2),
                "wall_s_median": round(median(wall) or 0, 2),
                "cpu_us_per_row": round((median(cpu) or 0) / rows * 1e6, 1),
                "rows_per_cpu_s": round(rows / (median(cpu) or 1)),
                "cpu_s_runs": [round(c, 2) for c in cpu],
                "tables": {
                    t: {"rows": int(r), "mib": round(int(b) / 2**20, 2)}
                    for t, r, b in (
                        ln.split("\t") for ln in bytes(parts.bytes()).decode().split("\n") if ln
                    )
                },
            }
    finally:
        conn.close()
        shutil.rmtree(tmp, ignore_errors=True)
    out["machine"]["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    return out


def per_view(batch: int, inserts: int, runs: int) -> dict[str, Any]:
    """CPU per insert of ``batch`` rows with every view, without each one, and without any."""
    import chdb

    configs = [("all", ()), *((f"without {v}", (v,)) for v in EVENT_VIEWS), ("none", EVENT_VIEWS)]
    tmp = Path(tempfile.mkdtemp(prefix="platestream-ingest-"))
    conn = chdb.connect(str(tmp))
    t0 = _first_ts()
    cpu_ms: dict[str, list[float]] = {label: [] for label, _ in configs}
    start = 0
    try:
        for run in range(runs):
            for i, (label, dropped) in enumerate(configs if run % 2 == 0 else configs[::-1]):
                name = f"views_{run}_{i}"
                _database(conn, name, dropped)
                sql = INSERT_SQL.replace(f"{DB}.", f"{name}.")
                conn.query(sql, params={"t0": t0, "start": start, "count": batch})  # warm-up
                start += batch
                c0 = time.process_time()
                for _ in range(inserts):
                    conn.query(sql, params={"t0": t0, "start": start, "count": batch})
                    start += batch
                cpu_ms[label].append((time.process_time() - c0) / inserts * 1000)
                conn.query(f"DROP DATABASE {name}")
    finally:
        conn.close()
        shutil.rmtree(tmp, ignore_errors=True)
    every = median(cpu_ms["all"]) or 0.0
    return {
        "batch_rows": batch,
        "inserts": inserts,
        "runs": runs,
        "machine": {**machine(), "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
        "cpu_ms_per_insert": {
            label: {
                "median": round(median(v) or 0, 2),
                "runs": [round(x, 2) for x in v],
                "saving_ms": round(every - (median(v) or 0), 2),
            }
            for label, v in cpu_ms.items()
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--batch", type=int, default=0, help="rows per insert: the per-view run")
    parser.add_argument("--inserts", type=int, default=30)
    args = parser.parse_args(argv)
    if args.batch:
        views = per_view(args.batch, args.inserts, args.runs)
        every = views["cpu_ms_per_insert"]["all"]["median"]
        for label, r in views["cpu_ms_per_insert"].items():
            print(
                f"{label:40} {r['median']:8.2f} ms CPU per insert of {args.batch}"
                f" ({r['median'] / args.batch * 1000:7.1f} us/row)  saving {r['saving_ms']:7.2f} ms"
                f" ({r['saving_ms'] / every * 100 if every else 0:5.1f} %)"
            )
        print(f"load average at end: {views['machine']['load_avg_1m_at_end']}")
        write_json(args.json, views)
        return
    result = measure(args.rows, args.runs)
    for label in ("without_search_views", "with_search_views"):
        r = result[label]
        print(
            f"{label:22} CPU {r['cpu_s_median']:6.2f} s ({r['cpu_us_per_row']} us/row, "
            f"{r['rows_per_cpu_s']:,} rows per CPU-second)  wall {r['wall_s_median']:6.2f} s"
        )
    print(f"load average at end: {result['machine']['load_avg_1m_at_end']}")
    write_json(args.json, result)


if __name__ == "__main__":
    main()
