"""`platestream bench sink`: sustained sink throughput, freshness produce->queryable, plate search latency.

Runs on the live stack named by the settings (or, when none answers, an ephemeral local stack it
starts and stops itself), in its own topic prefix and database, with the real sink loop.
  1. throughput: ``rows`` plate events are produced first, then the sink drains them; rows/s is
     measured from the first to the last insert (and from sink start).
  2. freshness: events produced at ``rate``/s for ``seconds`` while the sink runs; freshness of a
     row = inserted_at (ClickHouse time of the insert that made it queryable) - emitted_at (set
     just before produce). p50/p99 over every row.
  3. plate search: tables of N rows generated inside ClickHouse with the plate_events schema;
     exact / prefix / substring / fuzzy / camera+time lookups, median and max of 7 runs, client side.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from platestream.benchutil import machine, percentile, write_json
from platestream.clickhouse import make_clickhouse
from platestream.kafka import create_topics, make_producer
from platestream.serde import AvroSerde
from platestream.settings import load
from platestream.timeutil import now_ms
from services.sink import migrations, samples
from services.sink.settings import SinkSettings

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def live_stack(settings: SinkSettings) -> Iterator[SinkSettings]:
    """The configured stack if it answers, else an ephemeral local one (stopped afterwards)."""
    from platestream.stack import LocalStack, pick_free_ports

    try:
        healthy = LocalStack(settings).healthy()
    except Exception:
        healthy = False
    if healthy:
        yield settings
        return
    broker, s3, ch = pick_free_ports()
    var_dir = Path(tempfile.mkdtemp(prefix="platestream-bench-sink-"))
    s = settings.model_copy(
        update={
            "kafka_bootstrap": f"127.0.0.1:{broker}",
            "s3_endpoint": f"http://127.0.0.1:{s3}",
            "clickhouse_url": f"http://127.0.0.1:{ch}",
            "var_dir": var_dir,
        }
    )
    local = LocalStack(s, var_dir=var_dir, ephemeral=True)
    print(f"no stack answers on the configured ports: starting an ephemeral one under {var_dir}")
    try:
        local.up()
        yield s
    finally:
        local.down()
        shutil.rmtree(var_dir, ignore_errors=True)


class _SinkRun:
    """The real ClickHouse sink loop in a thread, with its stats visible."""

    def __init__(self, settings: SinkSettings) -> None:
        from services.sink.service import build_clickhouse_sink

        self.stop = threading.Event()
        self.stack = contextlib.ExitStack()
        self.first_insert: float | None = None
        self.last_insert: float | None = None
        self.sink = build_clickhouse_sink(settings, self.stop, self.stack, on_flush=self._flushed)
        self.thread = threading.Thread(target=self.sink.run, name="bench-sink", daemon=True)

    def _flushed(self, stats: Any) -> None:
        now = time.monotonic()
        if self.first_insert is None:
            self.first_insert = now
        self.last_insert = now

    def __enter__(self) -> _SinkRun:
        self.started = time.monotonic()
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)
        self.stack.close()


def _wait_rows(client: Any, table: str, n: int, timeout: float, where: str = "1") -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.query(f"SELECT count() FROM {table} WHERE {where}").result_rows[0][0] >= n:
            return time.monotonic()
        time.sleep(0.05)
    raise TimeoutError(f"{table}: fewer than {n} rows after {timeout:.0f}s")


def _server_process(s: SinkSettings) -> psutil.Process | None:
    """The process answering ClickHouse HTTP on this machine (the chDB endpoint), if local."""
    from urllib.parse import urlparse

    port = urlparse(s.clickhouse_url).port or 8123
    with contextlib.suppress(psutil.Error):
        for conn in psutil.net_connections(kind="tcp"):
            if (
                conn.status == psutil.CONN_LISTEN
                and conn.laddr
                and conn.laddr.port == port
                and conn.pid
            ):
                return psutil.Process(conn.pid)
    return None


def _cpu(proc: psutil.Process | None) -> float:
    if proc is None:
        return 0.0
    with contextlib.suppress(psutil.Error):
        t = proc.cpu_times()
        return float(t.user + t.system)
    return 0.0


def throughput(s: SinkSettings, client: Any, rows: int) -> dict[str, Any]:
    serde = AvroSerde(settings=s)
    producer = make_producer(s, **{"linger.ms": 20})
    topic = s.topic("anpr.plate-events.v1")
    base = now_ms() - 3_600_000
    t0 = time.monotonic()
    for i in range(rows):
        rec = samples.plate_event(i, base_ts=base)
        producer.produce(
            topic, key=rec["camera_id"].encode(), value=serde.encode("plate_event", rec)
        )
        if i % 10_000 == 0:
            producer.poll(0)
    producer.flush(120)
    produce_s = time.monotonic() - t0
    table = f"`{s.clickhouse_database}`.plate_events"
    me, server = psutil.Process(), _server_process(s)
    cpu0, srv0 = _cpu(me), _cpu(server)
    with _SinkRun(s) as run:
        done = _wait_rows(client, table, rows, timeout=max(120.0, rows / 500))
        first = run.first_insert or run.started
    sink_cpu, srv_cpu = _cpu(me) - cpu0, _cpu(server) - srv0
    per_row = max(sink_cpu, srv_cpu) / rows if rows else 0.0
    return {
        # CPU seconds per row: what the rate would be with a core each for the sink and ClickHouse
        # (they overlap: one insert in flight while the next batch decodes). Contention-proof.
        "sink_cpu_us_per_row": round(sink_cpu / rows * 1e6, 1),
        "clickhouse_cpu_us_per_row": round(srv_cpu / rows * 1e6, 1) if server else None,
        "rows_per_s_cpu_bound_estimate": round(1 / per_row) if per_row else None,
        "rows": rows,
        "produce_s": round(produce_s, 2),
        "sink_s_from_start": round(done - run.started, 2),
        "rows_per_s_from_start": round(rows / (done - run.started)),
        "rows_per_s_sustained": round(rows / max(done - first, 1e-6)),
        "batches": run.sink.stats.batches,
    }


def freshness(s: SinkSettings, client: Any, rate: int, seconds: float) -> dict[str, Any]:
    serde = AvroSerde(settings=s)
    producer = make_producer(s)
    topic = s.topic("anpr.plate-events.v1")
    base = now_ms() - 1_800_000
    offset = 10_000_000  # ids apart from the throughput run's
    slice_s = 0.01
    per_slice = max(1, round(rate * slice_s))
    produced = 0
    with _SinkRun(s):
        time.sleep(3.0)  # let the consumer join its group before the clock starts
        started_ms = now_ms()
        t0 = time.monotonic()
        next_slice = t0
        while time.monotonic() - t0 < seconds:
            for _ in range(per_slice):
                rec = samples.plate_event(offset + produced, base_ts=base, emitted_at=now_ms())
                producer.produce(
                    topic, key=rec["camera_id"].encode(), value=serde.encode("plate_event", rec)
                )
                produced += 1
            producer.poll(0)
            next_slice += slice_s
            delay = next_slice - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        achieved = produced / (time.monotonic() - t0)
        producer.flush(30)
        table = f"`{s.clickhouse_database}`.plate_events"
        mine = f"emitted_at >= fromUnixTimestamp64Milli({started_ms})"
        _wait_rows(client, table, produced, timeout=120, where=mine)
    lags = [
        r[0]
        for r in client.query(
            f"SELECT toUnixTimestamp64Milli(inserted_at) - toUnixTimestamp64Milli(emitted_at) FROM {table} WHERE {mine}"
        ).result_rows
    ]
    return {
        "target_rate": rate,
        "achieved_rate": round(achieved),
        "seconds": seconds,
        "rows": len(lags),
        "freshness_ms_p50": percentile(lags, 50),
        "freshness_ms_p99": percentile(lags, 99),
        "freshness_ms_max": max(lags) if lags else None,
        "batch_ms": s.sink_batch_ms,
    }


SEARCH_QUERIES = {
    "exact": "SELECT event_id, ts, camera_id FROM {t} WHERE plate = {{p:String}}",
    "exact_final": "SELECT event_id, ts, camera_id FROM {t} FINAL WHERE plate = {{p:String}}",
    "prefix": "SELECT event_id, ts, plate FROM {t} WHERE plate LIKE {{prefix:String}} LIMIT 100",
    "substring": "SELECT event_id, ts, plate FROM {t} WHERE plate LIKE {{infix:String}} LIMIT 100",
    "fuzzy_skeleton": "SELECT event_id, plate FROM {t} WHERE editDistance(plate_skeleton, {{sk:String}}) <= 1 LIMIT 100",
    "camera_hour": "SELECT count() FROM {t} WHERE camera_id = 'cam-7' AND ts >= {{from:DateTime64(3)}} "
    "AND ts < {{from:DateTime64(3)}} + INTERVAL 1 HOUR",
}


def search(s: SinkSettings, client: Any, n: int, runs: int = 7) -> dict[str, Any]:
    from platestream.plates import skeleton

    db = s.clickhouse_database
    table = f"`{db}`.search_{n}"
    client.command(f"DROP TABLE IF EXISTS {table}")
    client.command(f"CREATE TABLE {table} AS `{db}`.plate_events")
    letters = "'ABCDEFGHJKLMNPRSTUVWXYZ'"
    ch = f"substring({letters}, 1 + (cityHash64(number, {{k}}) % 23), 1)"
    plate = (
        "concat("
        + ", ".join(
            [
                ch.format(k=1),
                ch.format(k=2),
                ch.format(k=3),
                "toString(cityHash64(number, 4) % 10)",
                ch.format(k=5),
                "leftPad(toString(cityHash64(number, 6) % 100), 2, '0')",
            ]
        )
        + ")"
    )
    t0 = time.monotonic()
    client.command(
        f"INSERT INTO {table} (event_id, version, camera_id, ts, plate, confidence, first_seen, last_seen, read_count, "
        "best_read_id, source, access_status, emitted_at, topic, partition, offset) "
        f"SELECT toString(generateUUIDv4(number)), 1, concat('cam-', toString(number % 50)), "
        f"now64(3) - toIntervalMillisecond(number * 250), {plate}, 0.9, now64(3), now64(3), 1, '', 'bench', "
        f"'unknown', now64(3), 'bench', 0, number FROM numbers({n})",
        settings={"max_insert_threads": 2, "max_execution_time": 1800},
    )
    insert_s = time.monotonic() - t0
    target = client.query(f"SELECT plate, ts FROM {table} LIMIT 1 OFFSET {n // 2}").result_rows[0]
    p, ts = target
    params = {
        "p": p,
        "prefix": p[:3] + "%",
        "infix": "%" + p[2:5] + "%",
        "sk": skeleton(p),
        "from": ts,
    }
    out: dict[str, Any] = {"rows": n, "generate_s": round(insert_s, 1)}
    for name, sql in SEARCH_QUERIES.items():
        q = sql.format(t=table)
        times = []
        hits = 0
        for _ in range(runs):
            t1 = time.perf_counter()
            hits = len(client.query(q, parameters=params).result_rows)
            times.append((time.perf_counter() - t1) * 1000)
        out[name] = {
            "ms_p50": round(percentile(times, 50) or 0, 1),
            "ms_max": round(max(times), 1),
            "rows": hits,
        }
    client.command(f"DROP TABLE IF EXISTS {table}")
    return out


def run_bench(
    *,
    rows: int,
    rate: int,
    seconds: float,
    search_rows: list[int],
    json_path: Path | None,
    keep: bool,
) -> dict[str, Any]:
    from platestream.kafka import make_admin

    base = load(SinkSettings)
    result: dict[str, Any] = {"machine": machine(), "command": "platestream bench sink"}
    with live_stack(base) as live:
        tag = f"bsink{time.strftime('%H%M%S')}{uuid.uuid4().hex[:4]}"
        s = live.model_copy(
            update={"topic_prefix": f"{tag}.", "clickhouse_database": tag, "sink_metrics_port": 0}
        )
        create_topics(s)
        client = make_clickhouse(s, database="default", send_receive_timeout=1800)
        migrations.migrate(client, s)
        try:
            if rows > 0:
                result["throughput"] = throughput(s, client, rows)
                print(f"throughput: {result['throughput']}")
            if rate > 0 and seconds > 0:
                result["freshness"] = freshness(s, client, rate, seconds)
                print(f"freshness:  {result['freshness']}")
            result["search"] = []
            for n in search_rows:
                r = search(s, client, n)
                result["search"].append(r)
                print(
                    f"search {n:>11,} rows: "
                    + ", ".join(
                        f"{k} {v['ms_p50']} ms" for k, v in r.items() if isinstance(v, dict)
                    )
                )
        finally:
            if not keep:
                client.command(f"DROP DATABASE IF EXISTS `{tag}`")
                with contextlib.suppress(Exception):
                    admin = make_admin(s)
                    doomed = [
                        t
                        for t in admin.list_topics(timeout=10).topics
                        if t.startswith(s.topic_prefix)
                    ]
                    if doomed:
                        admin.delete_topics(doomed, operation_timeout=10)
    result["machine"]["load_avg_1m_at_end"] = round(__import__("os").getloadavg()[0], 2)
    write_json(json_path, result)
    return result
