"""`platestream bench api`: search latency through the API at given table sizes, and throughput.

Rows are generated inside ClickHouse (``INSERT ... SELECT FROM numbers()``) into a bench database
created by the sink's migrations, growing from one size to the next; the API runs as its own
process (`platestream api`) against that database, and this process is the client. Every search
goes the whole way: HTTP, auth, rate limit, ClickHouse, audit record produced to the broker.
"""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from platestream.benchutil import machine, percentile, write_json
from platestream.errors import StackError
from platestream.settings import load
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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def grow_table(settings: ApiSettings, target: int, t0: int) -> float:
    """Insert rows until the bench table holds ``target``; seconds spent."""
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
    return time.perf_counter() - start


class ApiProcess:
    """`platestream api` in a child process against the bench database."""

    def __init__(self, settings: ApiSettings) -> None:
        self.port = _free_port()
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

    def fuzzy() -> dict[str, Any]:
        p = list(plate())
        i = rng.randrange(len(p))
        p[i] = (
            "8" if p[i] == "B" else ("0" if p[i] == "O" else rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ"))
        )
        return {"plate": "".join(p), "mode": "fuzzy", "max_distance": 1, "sort": "score"}

    def camera_day() -> dict[str, Any]:
        day = t0 + rng.randrange(29) * 86_400_000
        return {
            "camera": f"cam-{rng.randrange(50)}",
            "since": _iso(day),
            "until": _iso(day + 86_400_000),
        }

    return {
        "exact": lambda: {"plate": plate()},
        "prefix": lambda: {"plate": plate()[:3], "mode": "prefix"},
        "wildcard": lambda: {"plate": plate()[:2] + "?" + plate()[3:5] + "*"},
        "fuzzy": fuzzy,
        "camera_day": camera_day,
    }


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms / 1000))


def measure(
    client: httpx.Client, headers: dict[str, str], params_fn: Any, n: int
) -> dict[str, Any]:
    lat: list[float] = []
    hits = 0
    for _ in range(n):
        start = time.perf_counter()
        r = client.get("/api/v1/events", params=params_fn(), headers=headers)
        lat.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
        hits += len(r.json()["items"])
    return {
        "n": n,
        "p50_ms": round(percentile(lat, 50) or 0, 1),
        "p99_ms": round(percentile(lat, 99) or 0, 1),
        "mean_results": round(hits / n, 1),
    }


def throughput(
    url: str, headers: dict[str, str], params_fn: Any, concurrency: int, duration: float
) -> dict[str, Any]:
    stop = time.monotonic() + duration
    lat: list[float] = []
    errors = [0]
    lock = threading.Lock()

    def worker() -> None:
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

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    return {
        "concurrency": concurrency,
        "seconds": round(elapsed, 1),
        "requests": len(lat),
        "errors": errors[0],
        "requests_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(percentile(lat, 50) or 0, 1),
        "p99_ms": round(percentile(lat, 99) or 0, 1),
    }


def run_bench(
    *,
    rows: list[int],
    queries: int,
    concurrency: int,
    duration: float,
    json_out: Path | None,
    keep: bool,
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
    _ensure_bench_user(bench_settings, AvroSerde(settings.schema_registry_url))
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
    try:
        for target in sorted(rows):
            print(f"growing {DB}.plate_events to {target:,} rows ...", flush=True)
            grow_s = grow_table(bench_settings, target, t0)
            with (
                ApiProcess(bench_settings) as api,
                httpx.Client(base_url=api.url, timeout=120) as client,
            ):
                tok = client.post(
                    "/api/v1/auth/token", data={"username": "bench", "password": BENCH_PASSWORD}
                )
                tok.raise_for_status()
                headers = {"Authorization": f"Bearer {tok.json()['access_token']}"}
                kinds = query_kinds(rng, t0, sample_plates(bench_settings))
                for fn in kinds.values():  # warm caches once per kind
                    client.get("/api/v1/events", params=fn(), headers=headers)
                entry: dict[str, Any] = {
                    "rows": target,
                    "insert_s": round(grow_s, 1),
                    "latency": {},
                }
                for name, fn in kinds.items():
                    entry["latency"][name] = measure(client, headers, fn, queries)
                    lat = entry["latency"][name]
                    print(
                        f"  {target:>12,} rows  {name:10} p50 {lat['p50_ms']:8.1f} ms  p99 {lat['p99_ms']:8.1f} ms"
                        f"  ({lat['mean_results']} results/query)",
                        flush=True,
                    )
                entry["throughput"] = throughput(
                    api.url, headers, kinds["exact"], concurrency, duration
                )
                tp = entry["throughput"]
                print(
                    f"  {target:>12,} rows  exact x{concurrency} clients: {tp['requests_per_s']} req/s "
                    f"(p50 {tp['p50_ms']} ms, p99 {tp['p99_ms']} ms, errors {tp['errors']})",
                    flush=True,
                )
                result["sizes"].append(entry)
    finally:
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
