"""The live-rate in-process replay (services/enrich/bench_live.py) runs the pipeline's workload."""

from __future__ import annotations

from services.enrich import bench_live


def test_live_replay_emits_the_pipeline_workload_events_and_alerts() -> None:
    out = bench_live.run(10_000)
    # one alert per watchlisted read (every 500th, confident: an early alert), none twice
    assert out["alerts"] == 20
    # every read is a passage of its own; those 3 s of event time old by the end are closed
    assert 3_000 < out["events"] < 10_000
    assert out["cpu_us_per_read"] > 0 and out["ru_per_read"] > 0
