"""Measurements of `platestream bench api`: latency per query kind over runs, throughput, memory, storage."""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import httpx

from platestream.benchutil import median, percentile
from services.api.settings import ApiSettings


def measure(
    client: httpx.Client,
    headers: dict[str, str],
    params_fn: Any,
    n: int,
    path: str = "/api/v1/events",
) -> dict[str, Any]:
    lat: list[float] = []
    hits = 0
    errors: dict[str, int] = {}
    for _ in range(n):
        start = time.perf_counter()
        r = client.get(path, params=params_fn(), headers=headers)
        lat.append((time.perf_counter() - start) * 1000)  # a refusal's time counts too
        if r.status_code == 503:  # a server-side limit stopped the query: counted, reported
            errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1
            continue
        r.raise_for_status()  # anything else is a defect of the bench or the API
        hits += len(r.json().get("items", []))
    return {
        "n": n,
        "p50_ms": round(percentile(lat, 50) or 0, 1),
        "p99_ms": round(percentile(lat, 99) or 0, 1),
        "mean_results": round(hits / n, 1),
        "errors": errors,
    }


def throughput(
    urls: list[str],
    headers: dict[str, str],
    params_fn: Any,
    concurrency: int,
    duration: float,
    pids: dict[str, list[int | None]] | None = None,
) -> dict[str, Any]:
    """Requests/s of ``concurrency`` clients for ``duration`` s, client ``i`` on ``urls[i % n]``
    (API replicas), with the CPU each kind of process spent per request (``pids``: name -> its
    processes, and this process as ``client``) and the ceiling that CPU sets: the machine's cores
    divided by the CPU of one request, if nothing else ran."""
    import psutil

    procs = {
        name: [psutil.Process(pid) for pid in group if pid] for name, group in (pids or {}).items()
    }
    procs = {name: group for name, group in procs.items() if group}
    procs["client"] = [psutil.Process()]

    def cpu() -> dict[str, float]:
        out = {}
        for name, group in procs.items():
            times = [p.cpu_times() for p in group]
            out[name] = sum(t.user + t.system for t in times)
        return out

    cpu0 = cpu()
    stop = time.monotonic() + duration
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker(url: str) -> None:
        with httpx.Client(base_url=url, timeout=60) as c:
            while time.monotonic() < stop:
                with lock:
                    params = params_fn()
                start = time.perf_counter()
                r = c.get("/api/v1/events", params=params, headers=headers)
                ms = (time.perf_counter() - start) * 1000
                with lock:
                    if r.status_code == 200:
                        lat.append(ms)
                    else:
                        errors[0] += 1

    threads = [
        threading.Thread(target=worker, args=(urls[i % len(urls)],)) for i in range(concurrency)
    ]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    cpu1 = cpu()
    n = max(len(lat), 1)
    per_request = {name: round(1000 * (cpu1[name] - cpu0[name]) / n, 2) for name in procs}
    total = sum(per_request.values())
    return {
        "cpu_ms_per_request": per_request,
        "ceiling_requests_per_s": round(1000 * (psutil.cpu_count() or 1) / total, 1)
        if total
        else None,
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "requests": len(lat),
        "errors": errors[0],
        "requests_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(percentile(lat, 50) or 0, 1),
        "p99_ms": round(percentile(lat, 99) or 0, 1),
    }


def measure_runs(
    client: httpx.Client,
    headers: dict[str, str],
    kinds: dict[str, Any],
    queries: int,
    runs: int,
    rows: int,
) -> dict[str, Any]:
    """Per kind: p50/p99 of each run, their medians, and the ratio to the reference of the run.

    The reference is the API's /health (HTTP, routing, no ClickHouse) measured in the same run,
    so a slower machine moves both and the ratio shows what the search itself costs.
    """
    per: dict[str, list[dict[str, Any]]] = {name: [] for name in ["reference", *kinds]}
    for _ in range(runs):
        per["reference"].append(measure(client, headers, dict, queries, path="/health"))
        for name, fn in kinds.items():
            per[name].append(measure(client, headers, fn, queries))
    out: dict[str, Any] = {}
    ref = median(r["p50_ms"] for r in per["reference"]) or 1.0
    for name, results in per.items():
        p50 = median(r["p50_ms"] for r in results) or 0.0
        p99 = median(r["p99_ms"] for r in results) or 0.0
        out[name] = {
            "n": queries,
            "runs": runs,
            "p50_ms": round(p50, 1),
            "p99_ms": round(p99, 1),
            "p50_runs": [r["p50_ms"] for r in results],
            "p99_runs": [r["p99_ms"] for r in results],
            "mean_results": results[-1]["mean_results"],
            "p50_over_reference": round(p50 / ref, 1),
            "refused_503": sum(r["errors"].get("503", 0) for r in results),
        }
        refused = out[name]["refused_503"]
        print(
            f"  {rows:>12,} rows  {name:15} p50 {p50:8.1f} ms  p99 {p99:8.1f} ms  "
            f"x{out[name]['p50_over_reference']} ref  ({out[name]['mean_results']} results/query)"
            + (f"  {refused} refused by a server-side limit (503)" if refused else ""),
            flush=True,
        )
    return out


def mixed(rng: random.Random, kinds: dict[str, Any]) -> Any:
    names = sorted(kinds)
    return lambda: kinds[rng.choice(names)]()


def memory(api_procs: list[Any], settings: ApiSettings) -> dict[str, Any]:
    """RSS of the (first) API process and of the process answering on the ClickHouse port; with
    more API replicas, each one's under ``api_replicas``."""
    import psutil

    def rss(pid: int | None) -> float | None:
        try:
            return round(psutil.Process(pid).memory_info().rss / 2**20, 1) if pid else None
        except psutil.Error:
            return None

    each = [rss(p.pid if p else None) for p in api_procs]
    out: dict[str, Any] = {
        "api": each[0] if each else None,
        "clickhouse_endpoint": rss(endpoint_pid(settings)),
    }
    if len(each) > 1:
        out["api_replicas"] = each
    return out


def endpoint_pid(settings: ApiSettings) -> int | None:
    """The process listening on the ClickHouse port, when it runs on this machine."""
    from urllib.parse import urlparse

    import psutil

    port = urlparse(settings.clickhouse_url).port or 8123
    return next(
        (
            c.pid
            for c in psutil.net_connections("tcp")
            if c.status == "LISTEN" and c.laddr and c.laddr.port == port
        ),
        None,
    )


def storage(settings: ApiSettings, db: str) -> dict[str, Any]:
    """Rows and bytes on disk per table of the bench database (the new search tables included)."""
    from platestream.clickhouse import make_clickhouse

    rows = (
        make_clickhouse(settings, database="default")
        .query(
            "SELECT table, sum(rows), sum(bytes_on_disk), count() FROM system.parts "
            "WHERE database = {db:String} AND active GROUP BY table ORDER BY table",
            parameters={"db": db},
        )
        .result_rows
    )
    return {
        str(t): {"rows": int(r), "mib": round(int(b) / 2**20, 1), "parts": int(n)}
        for t, r, b, n in rows
    }


def settle_merges(settings: ApiSettings, db: str, timeout_s: float = 900.0) -> float:
    """Wait until ClickHouse runs no merge in ``db`` (two polls in a row), at most ``timeout_s``;
    the seconds waited. Searches measured while the growth's merges still run measured the
    merges too (1.5x slower at 10M events on a quiet machine)."""
    from platestream.clickhouse import make_clickhouse

    client = make_clickhouse(settings, database="default")
    start = time.perf_counter()
    idle = 0
    while time.perf_counter() - start < timeout_s and idle < 2:
        running = client.query(
            "SELECT count() FROM system.merges WHERE database = {db:String}",
            parameters={"db": db},
        ).result_rows[0][0]
        idle = idle + 1 if int(running) == 0 else 0
        time.sleep(1.0)
    return time.perf_counter() - start


def pause_refreshes(settings: ApiSettings, db: str) -> dict[str, Any]:
    """Stop the refreshable views of ``db`` (the investigation views of migration 009, which
    recompute over every passage every few minutes) so that the search latency measured is the
    searches'; returns what their last refresh cost. `resume_refreshes` starts them again."""
    from platestream.clickhouse import make_clickhouse

    client = make_clickhouse(settings, database="default")
    rows = client.query(
        "SELECT view, last_success_duration_ms, read_rows FROM system.view_refreshes "
        "WHERE database = {db:String}",
        parameters={"db": db},
    ).result_rows
    for view, _, _ in rows:
        client.command(f"SYSTEM STOP VIEW `{db}`.`{view}`")
    return {
        str(view): {"last_refresh_s": round(int(ms or 0) / 1000, 1), "rows_read": int(n or 0)}
        for view, ms, n in rows
    }


def resume_refreshes(settings: ApiSettings, db: str, views: dict[str, Any]) -> None:
    from platestream.clickhouse import make_clickhouse

    client = make_clickhouse(settings, database="default")
    for view in views:
        client.command(f"SYSTEM START VIEW `{db}`.`{view}`")
