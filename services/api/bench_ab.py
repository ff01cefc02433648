"""`platestream bench search-ab`: the search of this tree against a git ref's, on the same rows, interleaved.

On a shared machine the load moves between two runs more than most changes move the latency, so
this compares two versions of the search in one run: the ref is checked out in a temporary git
worktree, each side grows its own database with its own migrations and the same generated rows
(`services.api.bench.INSERT_SQL`), and a worker process per side runs `run_search` straight
against ClickHouse (no HTTP, auth or audit: those are the same for both). The same queries of
`services.api.bench.query_kinds` go to both sides in alternating blocks (A then B, then B then A),
so load changes hit both alike. Before the queries both databases' merges are let finish and,
with ``compact``, their search tables merged into one part each as the daily job leaves them: a
side still merging after its growth, or holding more parts, is slower for reasons of its own (a
run without either had the untouched kinds 11-14 % apart). Reported per kind: p50/p99 of each
side, their ratio, and how many queries gave the same first results on both (a check that the
change kept the answers).
The ref must have `services.api.search.run_search` and `EventQuery` (every version since 003).
"""

from __future__ import annotations

import dataclasses
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from platestream.benchutil import machine, percentile, write_json
from services.api.bench import query_kinds

REPO = Path(__file__).resolve().parents[2]

# Runs in each side's tree (PYTHONPATH): grow its database, then answer queries on stdin.
WORKER = r"""
import json, sys, time
from platestream.settings import load
from services.api.settings import ApiSettings
from platestream.clickhouse import make_clickhouse
import services.api.bench as B
from services.api import search as S
db, rows, t0 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
B.DB = db
B.INSERT_SQL = B.INSERT_SQL.replace("bench_api.", db + ".")
s = load(ApiSettings)
B.grow_table(ApiSettings(**{**s.model_dump(), "clickhouse_database": db}), rows, t0)
c = make_clickhouse(s, database=db)
print(json.dumps({"ready": S.__file__}), flush=True)
for line in sys.stdin:
    q = S.EventQuery(**json.loads(line))
    a = time.perf_counter()
    found, _ = S.run_search(c, q)
    print(json.dumps({"ms": (time.perf_counter() - a) * 1000, "ids": [e["event_id"] for e in found][:5]}), flush=True)
"""


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)


def to_event_query(params: dict[str, Any]) -> dict[str, Any]:
    """The API request parameters of a bench kind as EventQuery fields."""
    out = {k: v for k, v in params.items() if k in ("plate", "mode", "max_distance", "sort")}
    if "camera" in params:
        out["cameras"] = [params["camera"]]
    for name in ("since", "until"):
        if name in params:
            out[f"{name}_ms"] = _ms(params[name])
    return out


class Side:
    """One version of the search in its own process."""

    def __init__(self, tree: Path, db: str, rows: int, t0: int) -> None:
        env = {**os.environ, "PYTHONPATH": str(tree), "PLATESTREAM_LOG_LEVEL": "WARNING"}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, db, str(rows), str(t0)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=tree,
        )
        self.db = db
        self.tree = tree

    def wait_ready(self) -> str:
        assert self.proc.stdout is not None
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"the worker for {self.tree} exited (code {self.proc.wait()})")
            if line.startswith('{"ready"'):
                return str(json.loads(line)["ready"])

    def ask(self, query: dict[str, Any]) -> dict[str, Any]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(query) + "\n")
        self.proc.stdin.flush()
        return dict(json.loads(self.proc.stdout.readline()))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(30)


def compare(
    ref_side: Side, head_side: Side, plates: list[str], t0: int, blocks: int, per_block: int
) -> dict[str, Any]:
    rng = random.Random(11)
    out: dict[str, Any] = {}
    for name, make in query_kinds(rng, t0, plates).items():
        times: dict[str, list[float]] = {"ref": [], "head": []}
        same = 0
        for block in range(blocks):
            queries = [to_event_query(make()) for _ in range(per_block)]
            order = [("ref", ref_side), ("head", head_side)]
            answers = {}
            for label, side in order if block % 2 == 0 else order[::-1]:
                answers[label] = [side.ask(q) for q in queries]
                times[label] += [a["ms"] for a in answers[label]]
            same += sum(
                a["ids"] == b["ids"] for a, b in zip(answers["ref"], answers["head"], strict=True)
            )
        ref50, head50 = statistics.median(times["ref"]), statistics.median(times["head"])
        out[name] = {
            "ref_p50_ms": round(ref50, 1),
            "ref_p99_ms": round(percentile(times["ref"], 99) or 0, 1),
            "head_p50_ms": round(head50, 1),
            "head_p99_ms": round(percentile(times["head"], 99) or 0, 1),
            "ref_over_head_p50": round(ref50 / head50, 2),
            "same_first_results": f"{same}/{len(times['ref'])}",
        }
        print(f"  {name:16s} {json.dumps(out[name])}", flush=True)
    return out


def settle(admin: Any, settings: Any, dbs: tuple[str, ...], compact: bool) -> dict[str, Any]:
    """Each database's merges finished (seconds waited) and, with ``compact``, its search tables
    in one part each (what the merges did)."""
    from services.api.bench_stats import settle_merges
    from services.sink.compaction import compact as compact_tables

    out: dict[str, Any] = {}
    for db in dbs:
        out[db] = {"merges_settled_s": round(settle_merges(settings, db), 1)}
        if compact:
            out[db]["compacted"] = [dataclasses.asdict(c) for c in compact_tables(admin, db)]
        print(f"  {db}: {json.dumps(out[db])[:300]}", flush=True)
    return out


def run_ab(
    *,
    ref: str,
    rows: int,
    blocks: int,
    per_block: int,
    json_out: Path | None,
    keep: bool,
    compact: bool = True,
) -> dict[str, Any]:
    from platestream.clickhouse import make_clickhouse
    from platestream.settings import load
    from services.api.settings import ApiSettings

    settings = load(ApiSettings)
    admin = make_clickhouse(settings, database="default", send_receive_timeout=3600)
    t0 = (int(time.time() * 1000) // 86_400_000 - 30) * 86_400_000
    result: dict[str, Any] = {
        "benchmark": "search-ab",
        "ref": ref,
        "rows": rows,
        "machine": machine(),
    }
    with tempfile.TemporaryDirectory(prefix="platestream-ab-") as tmp:
        tree = Path(tmp) / "ref"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree), ref],
            check=True,
            capture_output=True,
        )
        result["ref_commit"] = subprocess.run(
            ["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
        sides = []
        try:
            # one after the other: growing both at once would halve each one's CPU
            for tree_, db in ((tree, "bench_ab_ref"), (REPO, "bench_ab_head")):
                print(f"growing {db} to {rows:,} rows with {tree_} ...", flush=True)
                sides.append(Side(tree_, db, rows, t0))
                sides[-1].wait_ready()
            result["settled"] = settle(admin, settings, ("bench_ab_ref", "bench_ab_head"), compact)
            plates = [
                str(r[0])
                for r in admin.query(
                    "SELECT DISTINCT plate FROM bench_ab_head.plate_events LIMIT 2000"
                ).result_rows
            ]
            result["load_avg_1m_start"] = round(os.getloadavg()[0], 2)
            result["kinds"] = compare(sides[0], sides[1], plates, t0, blocks, per_block)
            result["load_avg_1m_end"] = round(os.getloadavg()[0], 2)
        finally:
            for side in sides:
                side.close()
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                capture_output=True,
            )
            if not keep:
                for db in ("bench_ab_ref", "bench_ab_head"):
                    admin.command(f"DROP DATABASE IF EXISTS {db}")
    write_json(json_out, result)
    return result
