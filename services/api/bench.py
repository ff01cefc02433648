"""`platestream bench api`: search latency through the API at given table sizes, and throughput.

Rows are generated inside ClickHouse (``INSERT ... SELECT FROM numbers()``) into a bench database
created by the sink's migrations, growing from one size to the next; the API runs as its own
process (`platestream api`) against that database, and this process is the client. Every search
goes the whole way: HTTP, auth, rate limit, ClickHouse, audit record produced to the broker.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from platestream.benchutil import machine, write_json
from platestream.errors import StackError
from platestream.settings import load
from platestream.stack.ports import free_port
from platestream.timeutil import iso_utc
from services.api.bench_stats import (
    endpoint_pid,
    measure_runs,
    memory,
    mixed,
    pause_refreshes,
    resume_refreshes,
    settle_merges,
    storage,
    throughput,
)
from services.api.settings import ApiSettings

DB = "bench_api"
PREFIX = "bench-api."
DISTINCT_PLATES = 2_000_000
SPAN_MS = 30 * 86_400_000
CHUNK = 1_000_000
PLATE_EXPR = (
    "concat(char(65 + h % 26), char(65 + intDiv(h, 26) % 26), char(65 + intDiv(h, 676) % 26), "
    "toString(1000 + intDiv(h, 17576) % 9000))"
)
INSERT_SQL = f"""
INSERT INTO {DB}.plate_events (event_id, version, camera_id, ts, plate, confidence, first_seen, last_seen,
    read_count, variants, read_ids, best_read_id, best_crop_key, image_keys, image_kinds, source, direction,
    vehicle_type, vehicle_color, camera_name, site, zone, access_status, watchlist_hits, emitted_at, topic,
    partition, offset)
SELECT concat('bench-', toString(number)), 0, concat('cam-', toString(number % 50)), t, plate,
    0.5 + (cityHash64(number, 2) % 500) / 1000, t, t, 1 + number % 4, [], [], '', NULL, [], [], 'bench',
    ['approaching', 'leaving'][1 + number % 2], ['car', 'truck', 'bus', 'motorcycle'][1 + number % 4],
    ['white', 'black', 'red', 'grey'][1 + intDiv(number, 3) % 4], concat('Camera ', toString(number % 50)),
    concat('site-', toString(number % 5)), 'gate', 'unknown',
    if(number % 1000 = 0, ['stolen'], []), t, 'bench', toUInt16(number % 6), number
FROM (SELECT number, cityHash64(number) % {DISTINCT_PLATES} AS h, {PLATE_EXPR} AS plate,
      fromUnixTimestamp64Milli(toInt64({{t0:Int64}} + cityHash64(number, 1) % {SPAN_MS}), 'UTC') AS t
      FROM numbers({{start:UInt64}}, {{count:UInt64}}))
"""


def grow_table(settings: ApiSettings, target: int, t0: int) -> tuple[float, int]:
    """Insert rows until the bench table holds ``target``; seconds spent and the rows it holds
    (more than ``target`` when a kept table was larger already)."""
    from platestream.clickhouse import make_clickhouse
    from services.sink.migrations import migrate
    from services.sink.settings import SinkSettings

    admin = make_clickhouse(
        settings, database="default", autogenerate_session_id=False, send_receive_timeout=1800
    )
    migrate(
        admin, SinkSettings(**{**settings.model_dump(), "clickhouse_database": DB}), database=DB
    )
    have = int(str(admin.command(f"SELECT count() FROM {DB}.plate_events")))
    start = time.perf_counter()
    while have < target:
        n = min(CHUNK, target - have)
        admin.command(INSERT_SQL, parameters={"t0": t0, "start": have, "count": n})
        have += n
        print(f"  rows: {have:,}", flush=True)
    return time.perf_counter() - start, have


def compact_search_tables(settings: ApiSettings) -> list[dict[str, Any]]:
    """`platestream db compact` on the bench database: parts before and after, seconds."""
    from platestream.clickhouse import make_clickhouse
    from services.sink.compaction import compact

    client = make_clickhouse(settings, database="default", send_receive_timeout=3600)
    done = [dataclasses.asdict(c) for c in compact(client, DB)]
    for c in done:
        print(
            f"  compacted {c['table']}: {c['parts_before']} -> {c['parts_after']} parts in "
            f"{c['seconds']:.1f} s",
            flush=True,
        )
    return done


class ApiProcess:
    """`platestream api` in a child process against the bench database."""

    def __init__(self, settings: ApiSettings) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "PLATESTREAM_CLICKHOUSE_DATABASE": DB,
            "PLATESTREAM_TOPIC_PREFIX": PREFIX,
            "PLATESTREAM_API_PORT": str(self.port),
            "PLATESTREAM_API_RATE_PER_S": "100000",
            "PLATESTREAM_API_RATE_BURST": "100000",
            "PLATESTREAM_LOG_LEVEL": "WARNING",
            "PLATESTREAM_API_LIVE_ENABLED": "false",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ApiProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "platestream.cli", "api"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(
                    f"the API exited: {self.proc.stderr.read().decode()[-2000:] if self.proc.stderr else ''}"
                )
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise StackError("the API did not answer /health within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def sample_plates(settings: ApiSettings, n: int = 2000) -> list[str]:
    """Plates that are in the table, so exact and fuzzy searches look for vehicles that passed."""
    from platestream.clickhouse import make_clickhouse

    client = make_clickhouse(settings, database="default", send_receive_timeout=600)
    rows = client.query(
        f"SELECT plate FROM {DB}.plate_events ORDER BY rand() LIMIT {int(n)}"
    ).result_rows
    return [r[0] for r in rows]


def query_kinds(rng: random.Random, t0: int, plates: list[str]) -> dict[str, Any]:
    """Each kind: a function returning request params for one search."""

    def plate() -> str:
        return rng.choice(plates)

    def misread(edits: int) -> str:
        p = list(plate())
        for i in rng.sample(range(len(p)), edits):
            p[i] = (
                "8"
                if p[i] == "B"
                else ("0" if p[i] == "O" else rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ"))
            )
        return "".join(p)

    def fuzzy() -> dict[str, Any]:
        return {"plate": misread(1), "mode": "fuzzy", "max_distance": 1, "sort": "score"}

    def fuzzy2() -> dict[str, Any]:
        return {"plate": misread(2), "mode": "fuzzy", "max_distance": 2, "sort": "score"}

    def fuzzy2_week() -> dict[str, Any]:
        """Two edits in a week, best matches first: an investigator's partial sighting."""
        day = t0 + rng.randrange(23) * 86_400_000
        return {**fuzzy2(), "since": iso_utc(day), "until": iso_utc(day + 7 * 86_400_000)}

    def camera_day() -> dict[str, Any]:
        day = t0 + rng.randrange(29) * 86_400_000
        return {
            "camera": f"cam-{rng.randrange(50)}",
            "since": iso_utc(day),
            "until": iso_utc(day + 86_400_000),
        }

    return {
        "exact": lambda: {"plate": plate()},
        "prefix": lambda: {"plate": plate()[:3], "mode": "prefix"},
        "wildcard": lambda: {"plate": plate()[:2] + "?" + plate()[3:5] + "*"},
        "wildcard_suffix": lambda: {"plate": "*" + plate()[-4:]},
        "fuzzy": fuzzy,
        "fuzzy2": fuzzy2,
        "camera_day": camera_day,
        # resolved through the dictionaries, which keep each plate's best confidence (016)
        "fuzzy2_week": fuzzy2_week,
        "wildcard_score": lambda: {"plate": "*" + plate()[-4:], "sort": "score"},
    }


def run_bench(
    *,
    rows: list[int],
    queries: int,
    concurrency: int,
    duration: float,
    json_out: Path | None,
    keep: bool,
    runs: int = 1,
    api_replicas: int = 1,
    compact: bool = False,
) -> dict[str, Any]:
    from platestream.kafka import create_topics, require_broker
    from platestream.serde import AvroSerde

    settings = load(ApiSettings)
    bench_settings = ApiSettings(
        **{**settings.model_dump(), "clickhouse_database": DB, "topic_prefix": PREFIX}
    )
    require_broker(settings, timeout=10)  # one clear line when the broker is down
    try:
        create_topics(bench_settings)
    except Exception as exc:
        raise StackError(
            f"cannot reach the broker at {settings.kafka_bootstrap}: start the stack (platestream stack up): {exc}"
        ) from exc
    _ensure_bench_user(bench_settings, AvroSerde(settings=settings))
    t0 = (int(time.time() * 1000) // 86_400_000 - 30) * 86_400_000
    result: dict[str, Any] = {
        "benchmark": "api",
        "machine": machine(),
        "note": (
            "2-core shared machine; other processes may be running (see load average). Latency is measured "
            "end to end through HTTP, auth, ClickHouse (chDB endpoint) and the audit record."
        ),
        "sizes": [],
    }
    rng = random.Random(7)
    refreshes: dict[str, Any] = {}
    try:
        for target in sorted(rows):
            print(f"growing {DB}.plate_events to {target:,} rows ...", flush=True)
            grow_s, held = grow_table(bench_settings, target, t0)
            if held > target:
                print(f"  the kept table holds {held:,} rows: measured at that size", flush=True)
            settled_s = settle_merges(bench_settings, DB)
            print(f"  merges settled after {settled_s:.0f} s", flush=True)
            compacted = compact_search_tables(bench_settings) if compact else None
            refreshes = pause_refreshes(bench_settings, DB)
            print(f"  refreshable views paused while searching (last refresh: {refreshes})")
            with contextlib.ExitStack() as replicas:
                apis = [
                    replicas.enter_context(ApiProcess(bench_settings)) for _ in range(api_replicas)
                ]
                api = apis[0]
                client = replicas.enter_context(httpx.Client(base_url=api.url, timeout=120))
                tok = client.post(
                    "/api/v1/auth/token", data={"username": "bench", "password": BENCH_PASSWORD}
                )
                tok.raise_for_status()
                headers = {
                    "Authorization": f"Bearer {tok.json()['access_token']}",
                    "X-Purpose": "data_quality",  # searches state a purpose (issue 17)
                }
                kinds = query_kinds(rng, t0, sample_plates(bench_settings))
                for fn in kinds.values():  # warm caches once per kind
                    client.get("/api/v1/events", params=fn(), headers=headers)
                entry: dict[str, Any] = {
                    "rows": held,
                    "insert_s": round(grow_s, 1),
                    "merges_settled_s": round(settled_s, 1),
                    "compacted": compacted,
                    "load_avg_1m": round(os.getloadavg()[0], 2),
                    "latency": measure_runs(client, headers, kinds, queries, runs, held),
                }
                mixed_fn = mixed(rng, kinds)
                pids: dict[str, list[int | None]] = {
                    "api": [a.proc.pid for a in apis if a.proc],
                    "clickhouse_endpoint": [endpoint_pid(bench_settings)],
                }
                urls = [a.url for a in apis]
                entry["api_replicas"] = api_replicas
                entry["throughput"] = {
                    name: throughput(urls, headers, fn, concurrency, duration, pids)
                    for name, fn in (("exact", kinds["exact"]), ("mixed", mixed_fn))
                }
                for name, tp in entry["throughput"].items():
                    print(
                        f"  {held:>12,} rows  {name} x{concurrency} clients: {tp['requests_per_s']} req/s "
                        f"(p50 {tp['p50_ms']} ms, p99 {tp['p99_ms']} ms, errors {tp['errors']}); "
                        f"CPU ms per request {tp['cpu_ms_per_request']}, "
                        f"ceiling {tp['ceiling_requests_per_s']} req/s",
                        flush=True,
                    )
                entry["memory_mib"] = memory([a.proc for a in apis], bench_settings)
                entry["storage"] = storage(bench_settings, DB)
                entry["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
                entry["refreshable_views_paused"] = refreshes
                print(f"  memory {entry['memory_mib']}  load {entry['load_avg_1m_at_end']}")
                result["sizes"].append(entry)
    finally:
        if keep and refreshes:  # a kept database refreshes its views again
            resume_refreshes(bench_settings, DB, refreshes)
        if not keep:
            from platestream.clickhouse import make_clickhouse

            make_clickhouse(settings, database="default").command(f"DROP DATABASE IF EXISTS {DB}")
    result["machine"]["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
    write_json(json_out, result)
    if json_out:
        print(f"wrote {json_out}")
    return result


BENCH_PASSWORD = "bench-password-0"


def _ensure_bench_user(settings: ApiSettings, serde: Any) -> None:
    from platestream import topics as catalogue
    from platestream.kafka import make_producer
    from services.api.auth import hash_password
    from services.api.identity import user_record
    from services.api.publish import Publisher

    pub = Publisher(producer=make_producer(settings), serde=serde, settings=settings)
    rec = user_record(
        "bench", "analyst", hash_password(BENCH_PASSWORD), action="created", actor="bench"
    )
    pub.publish(catalogue.USERS.name, catalogue.USERS.schema, "bench", rec)
    pub.flush()
    _ = json  # records are JSON-serialised by write_json
