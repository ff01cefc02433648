"""ClickHouse stopped under load: the sink pauses, keeps its batch, retries, and loses nothing.

The test runs its own ClickHouse endpoint (the stack's launcher, one component, on free ports and
a private data directory) so stopping it never disturbs other tests sharing the session stack.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from platestream.settings import CommonSettings
from platestream.stack import LocalStack, pick_free_ports
from platestream.timeutil import now_ms
from services.sink import samples
from services.sink.service import group_id
from tests.sink.helpers import (
    committed,
    end_offsets,
    migrated,
    produce,
    scalar,
    sink_settings,
    sink_thread,
    wait_until,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def private_clickhouse(
    settings: CommonSettings, tmp_path: Path
) -> Iterator[tuple[CommonSettings, LocalStack]]:
    _broker, _s3, port = pick_free_ports()
    s = settings.model_copy(
        update={"clickhouse_url": f"http://127.0.0.1:{port}", "var_dir": tmp_path}
    )
    local = LocalStack(s, var_dir=tmp_path)
    local.start("clickhouse")
    try:
        yield s, local
    finally:
        local.stop("clickhouse")


def _outage(
    private_clickhouse: tuple[CommonSettings, LocalStack],
    caplog: pytest.LogCaptureFixture,
    outage_s: float,
    rate: int,
    run_s: float,
) -> None:
    caplog.set_level(logging.INFO, logger="services.sink.clickhouse_sink")
    base_settings, local = private_clickhouse
    s = sink_settings(base_settings, sink_batch_rows=2_000, sink_backoff_max_s=2.0)
    ch = migrated(s)
    table = f"`{s.clickhouse_database}`.plate_events"
    base = now_ms() - 3_600_000
    placed: list[tuple[int, int]] = []
    produced = 0
    stop_load = threading.Event()

    def load() -> None:  # `rate` events/s for `run_s` seconds, in 100 ms slices
        nonlocal produced
        i = 0
        t_end = time.monotonic() + run_s
        while time.monotonic() < t_end and not stop_load.is_set():
            n = rate // 10
            placed.extend(
                produce(
                    s, "plate_events", [samples.plate_event(i + k, base_ts=base) for k in range(n)]
                )
            )
            i += n
            produced = i
            time.sleep(0.1)

    with sink_thread(s, {"clickhouse"}):
        loader = threading.Thread(target=load, daemon=True)
        loader.start()
        wait_until(
            lambda: scalar(ch, f"SELECT count() FROM {table}") > 0, 60, "rows before the outage"
        )
        local.stop("clickhouse")
        outage_end = time.monotonic() + outage_s
        while time.monotonic() < outage_end:
            time.sleep(0.2)
        local.start("clickhouse")
        loader.join(run_s + outage_s + 60)
        stop_load.set()
        ends = end_offsets(placed)
        group = group_id(s, s.sink_group_clickhouse)
        wait_until(
            lambda: committed(s, group, s.topic("anpr.plate-events.v1"), list(ends)) == ends,
            120,
            "the sink to commit the end of the log after the outage",
            interval=0.5,
        )
    ch = migrated(s)  # a fresh client after the restart
    assert scalar(ch, f"SELECT count() FROM {table} FINAL") == produced
    assert scalar(ch, f"SELECT uniqExact(event_id) FROM {table}") == produced
    messages = [r.getMessage() for r in caplog.records if r.name == "services.sink.clickhouse_sink"]
    assert any("ClickHouse unavailable" in m and "paused" in m for m in messages), messages
    assert any("ClickHouse is back: resumed" in m for m in messages), messages


def test_clickhouse_down_5s_under_load_loses_nothing(private_clickhouse, caplog) -> None:
    _outage(private_clickhouse, caplog, outage_s=5.0, rate=500, run_s=10.0)


@pytest.mark.slow
def test_clickhouse_down_30s_under_load_loses_nothing(private_clickhouse, caplog) -> None:
    _outage(private_clickhouse, caplog, outage_s=30.0, rate=2_000, run_s=40.0)
