"""Replay through the API on the live stack: a replay job re-publishes the chosen cameras'
events in event-time order and reports its progress; at the original pace it keeps the gaps.

The paced replay comes second: the first test reads the whole replay topic.
"""

from __future__ import annotations

import json

import pytest

from platestream import topics as catalogue
from platestream.timeutil import iso_utc

from .helpers import ApiEnv, read_topic, wait_until

pytestmark = pytest.mark.integration


def test_replay_republishes_events_in_order(api_env: ApiEnv) -> None:
    seed = api_env.seed
    since = iso_utc(seed.base_ts - 1000)
    until = iso_utc(seed.base_ts + 3_600_000)
    r = api_env.post(
        "/api/v1/replay",
        "analyst",
        json={"since": since, "until": until, "cameras": ["cam-a", "cam-b"]},
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    job = wait_until(
        lambda: (
            (j := api_env.get(f"/api/v1/replay/{job_id}", "analyst").json())["state"]
            in ("done", "failed")
            and j
        ),
        60,
        "the replay",
    )
    expected = [e for e in seed.events if e["camera_id"] in ("cam-a", "cam-b")]
    assert (
        job["state"] == "done"
        and job["total"] == len(expected)
        and job["published"] == len(expected)
    ), job
    replayed = [v for _k, v in read_topic(api_env, catalogue.REPLAY)]
    assert sorted(v["event_id"] for v in replayed) == sorted(e["event_id"] for e in expected)
    # in event-time order (one partition per camera key keeps per-camera order; globally by ts when merged)
    for cam in ("cam-a", "cam-b"):
        ts = [v["ts"] for v in replayed if v["camera_id"] == cam]
        assert ts == sorted(ts)
    with api_env.http.stream(
        "GET", f"/api/v1/replay/{job_id}/stream", headers=api_env.headers("analyst")
    ) as s:
        first = next(ln for ln in s.iter_lines() if ln.startswith("data:"))
    assert json.loads(first[5:])["state"] == "done"
    assert (
        api_env.post("/api/v1/replay", "viewer", json={"since": since, "until": until}).status_code
        == 403
    )
    bad = api_env.post(
        "/api/v1/replay",
        "analyst",
        json={"since": since, "until": until, "target_topic": "anpr.alerts.v1"},
    )
    assert bad.status_code == 422


def test_replay_at_original_pace_keeps_the_gaps(api_env: ApiEnv) -> None:
    seed = api_env.seed
    cam = [e for e in seed.events if e["camera_id"] == "cam-c"]
    span_s = (max(e["ts"] for e in cam) - min(e["ts"] for e in cam)) / 1000
    speed = 60.0
    since = iso_utc(seed.base_ts - 1000)
    until = iso_utc(seed.base_ts + 3_600_000)
    r = api_env.post(
        "/api/v1/replay",
        "analyst",
        json={
            "since": since,
            "until": until,
            "cameras": ["cam-c"],
            "pace": "original",
            "speed": speed,
        },
    )
    job_id = r.json()["id"]
    job = wait_until(
        lambda: (
            (j := api_env.get(f"/api/v1/replay/{job_id}", "analyst").json())["state"]
            in ("done", "failed")
            and j
        ),
        60,
        "the paced replay",
    )
    assert job["state"] == "done" and job["published"] == len(cam), job
    took_s = (job["finished_at"] - job["created_at"]) / 1000
    assert took_s >= span_s / speed * 0.9, (took_s, span_s / speed)
