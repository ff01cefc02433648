"""Insert and query figures of the ClickHouse endpoint through clickhouse-connect.

    python -m platestream.stack.bench            # against the stack named by PLATESTREAM_* settings
    python -m platestream.stack.bench --rows 1000000 --batch 500 --seconds 5

Creates and drops its own database (`bench_<pid>`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time

import numpy as np


def run(rows: int, batch: int, seconds: float) -> dict[str, float]:
    from platestream.clickhouse import make_clickhouse
    from platestream.settings import common

    settings = common()
    db = f"bench_{os.getpid()}"
    admin = make_clickhouse(settings, database="default")
    admin.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    client = make_clickhouse(settings, database=db)
    figures: dict[str, float] = {}
    try:
        client.command(
            "CREATE TABLE reads (event_id UInt64, ts DateTime64(3, 'UTC'), camera_id LowCardinality(String), "
            "plate String, confidence Float32) ENGINE = MergeTree ORDER BY (camera_id, ts)"
        )
        ids = np.arange(rows, dtype=np.uint64)
        ts_ms = (1_767_225_600_000 + ids.astype(np.int64)).astype("datetime64[ms]")
        cameras = np.array([f"cam-{i:02d}" for i in range(50)], dtype=object)[ids % 50]
        plates = np.char.add("AB", np.char.zfill((ids % 100_000).astype(str), 5)).astype(object)
        conf = (ids % 100).astype(np.float32) / 100
        import pandas as pd

        frame = pd.DataFrame(
            {
                "event_id": ids,
                "ts": ts_ms,
                "camera_id": cameras,
                "plate": plates,
                "confidence": conf,
            }
        )
        started = time.perf_counter()
        client.insert_df("reads", frame)
        figures["bulk_insert_s"] = time.perf_counter() - started
        figures["bulk_insert_rows_per_s"] = rows / figures["bulk_insert_s"]
        started = time.perf_counter()
        result = client.query("SELECT * FROM reads")
        figures["full_read_s"] = time.perf_counter() - started
        assert len(result.result_rows) == rows
        started = time.perf_counter()
        client.query(
            "SELECT count() FROM reads WHERE plate = {p:String}", parameters={"p": "AB00042"}
        )
        figures["plate_lookup_ms"] = (time.perf_counter() - started) * 1000

        small = [
            [i, dt.datetime(2026, 1, 1, tzinfo=dt.UTC), "cam-01", f"XY{i:05d}", 0.9]
            for i in range(batch)
        ]
        cols = ["event_id", "ts", "camera_id", "plate", "confidence"]
        count = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            client.insert("reads", small, column_names=cols)
            count += 1
        elapsed = time.perf_counter() - started
        figures[f"batch{batch}_inserts_per_s"] = count / elapsed
        figures[f"batch{batch}_rows_per_s"] = count * batch / elapsed
    finally:
        admin.command(f"DROP DATABASE IF EXISTS {db}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    figures = run(args.rows, args.batch, args.seconds)
    print(json.dumps({k: round(v, 3) for k, v in figures.items()}, indent=2))


if __name__ == "__main__":
    main()
