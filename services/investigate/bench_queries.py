"""`platestream bench investigations`: latency of the investigation endpoints at table sizes.

On an ephemeral local stack of its own: rows are generated inside ClickHouse by the API
benchmark's generator (services/api/bench.py: 2 M distinct plates, 50 cameras on 5 sites, random
times over 30 days) into a database without materialized views, the API runs as its own
process, and this process times each endpoint through HTTP, auth, ClickHouse and the audit
record.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path
from typing import Any

import httpx

from platestream.benchutil import machine, percentile, write_json
from platestream.timeutil import iso_utc

DAY_MS = 86_400_000


def _time(
    client: httpx.Client, headers: dict[str, str], path: str, params: list[dict[str, Any]]
) -> dict[str, Any]:
    took = []
    for p in params:
        t = time.perf_counter()
        r = client.get(path, params=p, headers=headers)
        took.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return {
        "n": len(took),
        "p50_ms": round(percentile(took, 50) or -1, 1),
        "p99_ms": round(percentile(took, 99) or -1, 1),
        "max_ms": round(max(took), 1),
    }


def _without_views(settings: Any) -> None:
    """Migrate the bench database, then drop its materialized views: they multiply the cost of
    generating millions of rows, and the investigation queries read plate_events only."""
    from platestream.clickhouse import make_clickhouse
    from services.sink.migrations import migrate
    from services.sink.settings import SinkSettings

    admin = make_clickhouse(settings, database="default", autogenerate_session_id=False)
    db = settings.clickhouse_database
    migrate(admin, SinkSettings(**settings.model_dump()), database=db)
    views = admin.query(
        "SELECT name FROM system.tables WHERE database = {d:String} AND engine = 'MaterializedView'",
        parameters={"d": db},
    ).result_rows
    for (name,) in views:
        admin.command(f"DROP VIEW IF EXISTS `{db}`.`{name}`")


def _refresh_views(settings: Any) -> dict[str, float]:
    """(Re)create migration 009's refreshable views (``_without_views`` dropped them) and run one
    full refresh of each on the grown table; returns each refresh's seconds."""
    from platestream.clickhouse import make_clickhouse
    from services.api.investigations import VIEWS
    from services.sink.migrations import load_migrations, render, split_statements
    from services.sink.settings import SinkSettings

    admin = make_clickhouse(settings, database="default", autogenerate_session_id=False)
    db = settings.clickhouse_database
    [mig] = [m for m in load_migrations() if m.version == 9]
    sql = render(mig.sql, SinkSettings(**settings.model_dump()), database=db)
    for stmt in split_statements(sql):
        if stmt.upper().startswith("CREATE MATERIALIZED VIEW"):
            admin.command(stmt)
    took = {}
    for view in VIEWS.values():
        admin.command(f"SYSTEM WAIT VIEW `{db}`.`{view}`")  # the refresh at creation
        t = time.perf_counter()
        admin.command(f"SYSTEM REFRESH VIEW `{db}`.`{view}`")
        admin.command(f"SYSTEM WAIT VIEW `{db}`.`{view}`")
        took[view] = round(time.perf_counter() - t, 1)
    return took


def _view_vs_live(
    client: httpx.Client, headers: dict[str, str], ranges: list[dict[str, str]]
) -> dict[str, Any]:
    """The views' answers against the live queries' (fresh=true) on the same days: trips and
    cells or pairs that differ (a trip that crosses the range's start is counted by the view in
    the hour it began, by the live query from its first passage in the range)."""
    out: dict[str, Any] = {}
    for path, key, cell in (
        ("od", "cells", ("hour_ms", "origin", "destination")),
        ("travel-times", "pairs", ("from_camera", "to_camera")),
    ):
        differ = same = view_trips = live_trips = 0
        for r in ranges:
            got = {}
            for fresh in ("false", "true"):
                body = client.get(
                    f"/api/v1/investigations/{path}", params={**r, "fresh": fresh}, headers=headers
                ).json()
                got[body["source"]] = {tuple(c[k] for k in cell): c for c in body[key]}
            view, live = got["view"], got["live"]
            view_trips += sum(c["trips"] for c in view.values())
            live_trips += sum(c["trips"] for c in live.values())
            for k in view.keys() | live.keys():
                same, differ = (
                    (same + 1, differ) if view.get(k) == live.get(k) else (same, differ + 1)
                )
        out[path] = {
            "days": len(ranges),
            "same": same,
            "differ": differ,
            "view_trips": view_trips,
            "live_trips": live_trips,
        }
    return out


def run_bench(*, rows: list[int], queries: int, json_out: Path | None) -> dict[str, Any]:
    from services.investigate.bench_broker import some_stack

    result: dict[str, Any] = {"benchmark": "investigations", "machine": machine(), "sizes": []}
    with some_stack(own=True) as s:
        # the API benchmark's helpers read the process's settings: point them at this stack
        os.environ.update(
            {
                "PLATESTREAM_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
                "PLATESTREAM_S3_ENDPOINT": s.s3_endpoint,
                "PLATESTREAM_CLICKHOUSE_URL": s.clickhouse_url,
                "PLATESTREAM_VAR_DIR": str(s.var_dir),
            }
        )
        from platestream.kafka import create_topics
        from platestream.serde import AvroSerde
        from services.api import bench as api_bench
        from services.api.settings import ApiSettings

        settings = ApiSettings(
            **{
                **s.model_dump(),
                "clickhouse_database": api_bench.DB,
                "topic_prefix": api_bench.PREFIX,
            }
        )
        create_topics(settings)
        api_bench._ensure_bench_user(settings, AvroSerde())
        _without_views(settings)
        t0 = (int(time.time() * 1000) // DAY_MS - 30) * DAY_MS
        rng = random.Random(5)
        for target in sorted(rows):
            grow_s, _ = api_bench.grow_table(settings, target, t0)
            refresh_s = _refresh_views(settings)
            print(f"  {target:>12,} rows  views refreshed in {refresh_s} s", flush=True)
            plates = api_bench.sample_plates(settings, 200)
            with (
                api_bench.ApiProcess(settings) as api,
                httpx.Client(base_url=api.url, timeout=600) as client,
            ):
                tok = client.post(
                    "/api/v1/auth/token",
                    data={"username": "bench", "password": api_bench.BENCH_PASSWORD},
                )
                tok.raise_for_status()
                headers = {
                    "Authorization": f"Bearer {tok.json()['access_token']}",
                    "X-Purpose": "investigation",  # answers that name plates state one (issue 17)
                }
                month = {"since": iso_utc(t0), "until": iso_utc(t0 + 30 * DAY_MS)}

                def day() -> dict[str, str]:
                    d = t0 + rng.randrange(30) * DAY_MS
                    return {"since": iso_utc(d), "until": iso_utc(d + DAY_MS)}

                base = "/api/v1/investigations"
                kinds: dict[str, tuple[str, list[dict[str, Any]]]] = {
                    "convoys (one plate, 30 days)": (
                        f"{base}/convoys",
                        [
                            {**month, "plate": rng.choice(plates), "min_occasions": 2}
                            for _ in range(queries)
                        ],
                    ),
                    "journeys (one plate, 30 days)": (
                        f"{base}/journeys",
                        [{**month, "plate": rng.choice(plates)} for _ in range(queries)],
                    ),
                    "od (all plates, one day)": (f"{base}/od", [day() for _ in range(queries)]),
                    "od (live, fresh=true)": (
                        f"{base}/od",
                        [{**day(), "fresh": "true"} for _ in range(queries)],
                    ),
                    "travel-times (one day)": (
                        f"{base}/travel-times",
                        [day() for _ in range(queries)],
                    ),
                    "travel-times (live, fresh=true)": (
                        f"{base}/travel-times",
                        [{**day(), "fresh": "true"} for _ in range(queries)],
                    ),
                    "travel-times (view, 30 days)": (
                        f"{base}/travel-times",
                        [month for _ in range(queries)],
                    ),
                    "dwell (one day)": (f"{base}/dwell", [day() for _ in range(queries)]),
                }
                entry: dict[str, Any] = {
                    "rows": target,
                    "insert_s": round(grow_s, 1),
                    "view_refresh_s": refresh_s,
                    "latency": {},
                }
                for name, (path, params) in kinds.items():
                    client.get(path, params=params[0], headers=headers)  # warm once
                    lat = _time(client, headers, path, params)
                    entry["latency"][name] = lat
                    print(
                        f"  {target:>12,} rows  {name}: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms"
                        f" ({lat['n']} queries)",
                        flush=True,
                    )
                entry["view_vs_live"] = _view_vs_live(client, headers, [day() for _ in range(3)])
                print(f"  {target:>12,} rows  view vs live: {entry['view_vs_live']}", flush=True)
                entry["load_avg_1m_at_end"] = round(os.getloadavg()[0], 2)
                result["sizes"].append(entry)
    write_json(json_out, result)
    return result
