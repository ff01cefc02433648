"""The reference unit benchmarks divide CPU figures by (platestream/bench/reference.py)."""

from __future__ import annotations

import io

import fastavro

from platestream.bench import reference
from platestream.bench.report import cpu_cost


def test_the_reference_operation_round_trips_the_fixed_record() -> None:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, reference._PARSED, reference.RECORD)
    back = fastavro.schemaless_reader(io.BytesIO(out.getvalue()), reference._PARSED)
    assert back["plate"] == "ABC1D23" and back["plate_box"]["w"] == 168


def test_the_unit_is_a_positive_cpu_time_and_converts() -> None:
    unit = reference.reference_unit_us(n=200, repeats=3)
    assert 0 < unit < 10_000
    assert reference.in_units(3 * unit, unit) == 3.0
    assert reference.in_units(None, unit) is None and reference.in_units(5.0, None) is None


def test_cpu_cost_reports_each_process_per_read_in_us_and_units() -> None:
    samples = [{"t": 1, "enrich": {"cpu": 50.0}}, {"t": 2, "enrich": {"cpu": 50.0}}]
    got = cpu_cost(samples, rows=10_000, unit_us=20.0)["enrich"]
    assert got["cpu_s"] == 1.0
    assert got["cpu_us_per_read"] == 100.0 and got["ru_per_read"] == 5.0
    assert got["ceiling_rows_per_s_per_core"] == 10_000


def test_the_unit_sampler_measures_through_a_run_in_a_child_and_stops_it() -> None:
    import time

    import psutil

    sampler = reference.UnitSampler(every_s=0.05, ops=200)
    deadline = time.monotonic() + 30
    while len(sampler.values) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = sampler.pid
    sampler.stop()
    got = sampler.summary()
    assert got is not None and got["n"] >= 3
    assert 0 < got["min_us"] <= got["median_us"] <= got["max_us"] < 10_000
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_the_report_names_the_unit_it_divided_by() -> None:
    from platestream.bench.report import unit_text

    start = {"machine": {"reference_unit_us": 30.0}}
    assert "measured at the start" in unit_text(start)
    during = {
        **start,
        "reference_unit_during": {"median_us": 25.0, "min_us": 24.0, "max_us": 40.0, "n": 60},
    }
    assert unit_text(during).startswith("1 ru = 25.0 us CPU (reference unit, median of 60")
