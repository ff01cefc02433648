"""The investigations API and the scheduled convoy job, over HTTP and the command line, on the
seeded town (tests/investigate/dataset.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from tests.sink.helpers import env_for

from .dataset import BUDDY, DAY, SOMETIMES, TARGET

pytestmark = pytest.mark.integration


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def span(env) -> dict[str, str]:
    return {"since": iso(env.base), "until": iso(env.base + 4 * DAY)}


def test_convoys_endpoint_normalises_the_plate_and_ranks(inv_env) -> None:
    resp = inv_env.get(
        "/api/v1/investigations/convoys",
        plate="tgt-0001",
        min_occasions=2,
        min_cameras=1,
        **span(inv_env),
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["plate"] == TARGET
    assert [(c["plate"], c["occasions"]) for c in body["companions"]] == [
        (BUDDY, 3),
        (SOMETIMES, 2),
    ]


def test_endpoints_answer_with_the_seeded_figures(inv_env) -> None:
    trips = inv_env.get("/api/v1/investigations/journeys", plate=TARGET, **span(inv_env)).json()[
        "trips"
    ]
    assert [len(t["stops"]) for t in trips] == [3, 3, 3]
    cells = inv_env.get("/api/v1/investigations/od", **span(inv_env)).json()["cells"]
    assert sum(c["trips"] for c in cells) == 19  # 11 road trips and 8 at the car park
    pairs = inv_env.get("/api/v1/investigations/travel-times", **span(inv_env)).json()["pairs"]
    assert [(p["from_camera"], p["to_camera"], p["median_s"]) for p in pairs] == [
        ("cam-1", "cam-2", 670.0),
        ("cam-2", "cam-3", 900.0),
    ]
    dwell = inv_env.get("/api/v1/investigations/dwell", site="park", **span(inv_env)).json()
    assert [(s["site"], s["stays"], s["overstays"]) for s in dwell["sites"]] == [("park", 4, 2)]
    assert [o["plate"] for o in dwell["overstays"]] == ["PRK0003", "PRK0002"]
    anomalies = inv_env.get(
        "/api/v1/investigations/anomalies", kind="clone", **span(inv_env)
    ).json()
    assert [a["plate"] for a in anomalies["anomalies"]] == [TARGET]


def test_bad_requests_are_refused(inv_env) -> None:
    assert inv_env.http.get("/api/v1/investigations/od").status_code == 401
    bad = [
        (
            "/api/v1/investigations/od",
            {"since": iso(inv_env.base + DAY), "until": iso(inv_env.base)},
        ),
        ("/api/v1/investigations/od", {"days": 400}),
        ("/api/v1/investigations/od", {"by": "camera"}),
        ("/api/v1/investigations/convoys", {"plate": "--"}),
        ("/api/v1/investigations/journeys", {"plate": TARGET, "gap_s": 5}),
    ]
    for path, params in bad:
        assert inv_env.get(path, **params).status_code == 422, (path, params)


def test_answers_that_name_plates_need_a_purpose_and_aggregates_do_not(inv_env) -> None:
    for path, params in (
        ("/api/v1/investigations/journeys", {"plate": TARGET}),
        ("/api/v1/investigations/convoys", {"plate": TARGET}),
        ("/api/v1/investigations/dwell", {}),
        ("/api/v1/investigations/anomalies", {}),
    ):
        resp = inv_env.get(path, purpose=None, **params, **span(inv_env))
        assert resp.status_code == 422 and "purpose" in resp.text, (path, resp.text)
    for path in ("/api/v1/investigations/od", "/api/v1/investigations/travel-times"):
        assert inv_env.get(path, purpose=None, **span(inv_env)).status_code == 200, path


def test_the_scheduled_convoy_job_prints_one_line_per_pair(inv_env) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "platestream.cli",
            "investigate",
            "convoys",
            "--hours",
            "96",
            "--until",
            iso(inv_env.base + 4 * DAY),
            "--min-occasions",
            "3",
        ],
        env=env_for(inv_env.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    [line] = [json.loads(x) for x in run.stdout.splitlines()]
    assert (line["plate"], line["companion"], line["support"]) == (BUDDY, TARGET, 3)
    assert line["until"] - line["since"] == 4 * DAY


def test_the_overstay_job_lists_stays_past_the_limit(inv_env) -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "platestream.cli",
            "investigate",
            "overstays",
            "--site",
            "park",
            "--limit-s",
            "14400",
            "--hours",
            "96",
            "--until",
            iso(inv_env.base + 4 * DAY),
        ],
        env=env_for(inv_env.settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    lines = [json.loads(x) for x in run.stdout.splitlines()]
    assert [(r["plate"], r["seconds"]) for r in lines] == [
        ("PRK0003", (4 * DAY - 11 * 3_600_000) / 1000),
        ("PRK0002", 21_600.0),
    ]
