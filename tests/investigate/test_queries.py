"""The investigation queries on the town's passages (tests/investigate/dataset.py), stored by the
real sink in the local stack's ClickHouse: every figure below is worked out by hand."""

from __future__ import annotations

import pytest

from services.api import investigations as q

from .dataset import BUDDY, DAY, FAR, HOUR, SOMETIMES, TARGET, day_start

pytestmark = pytest.mark.integration
GAP = 1_800_000


def window(env) -> dict:
    return {"since": env.base, "until": env.base + 4 * DAY}


def test_journeys_split_the_plates_passages_into_trips(inv_env) -> None:
    trips = q.journeys(inv_env.clickhouse, plate=TARGET, gap_ms=GAP, **window(inv_env))
    assert [t["trip"] for t in trips] == [1, 2, 3]
    for k, trip in enumerate(trips):
        t0 = day_start(inv_env.base, k)
        assert (trip["start_ms"], trip["end_ms"]) == (t0, t0 + 1_500_000 + 60_000 * k)
        assert (trip["origin"], trip["destination"], trip["passages"]) == ("alpha", "charlie", 3)
        assert [(s["camera_id"], s["ts"]) for s in trip["stops"]] == [
            ("cam-1", t0),
            ("cam-2", t0 + 600_000 + 60_000 * k),
            ("cam-3", t0 + 1_500_000 + 60_000 * k),
        ]
        assert trip["stops"][0]["lat"] == 51.5
    # A gap setting shorter than the 600 s hop between cameras splits every passage apart.
    assert len(q.journeys(inv_env.clickhouse, plate=TARGET, gap_ms=300_000, **window(inv_env))) == 9


def test_convoys_of_a_plate_rank_companions_by_occasions(inv_env) -> None:
    args = {"plate": TARGET, "within_ms": 60_000, "gap_ms": GAP, **window(inv_env)}
    [buddy] = q.convoys(inv_env.clickhouse, min_occasions=3, **args)
    last = day_start(inv_env.base, 2) + 630_000 + 120_000
    assert buddy == {
        "plate": BUDDY,
        "occasions": 3,
        "passages": 6,
        "cameras": 2,
        "first_ms": day_start(inv_env.base, 0) + 20_000,
        "last_ms": last,
        "trips": 3,
        "share": 1.0,
    }
    # SOMETIMES met TARGET at one camera per trip: an occasion only when one camera is enough
    assert [r["plate"] for r in q.convoys(inv_env.clickhouse, min_occasions=2, **args)] == [BUDDY]
    two = q.convoys(inv_env.clickhouse, min_occasions=2, min_cameras=1, **args)
    assert [(r["plate"], r["occasions"], r["passages"]) for r in two] == [
        (BUDDY, 3, 6),
        (SOMETIMES, 2, 2),
    ]
    wide = {**args, "within_ms": 300_000}
    far = q.convoys(inv_env.clickhouse, min_occasions=3, min_cameras=1, **wide)
    assert FAR in [r["plate"] for r in far]  # 300 s behind: a companion only with a wider window


def test_all_convoys_in_a_window(inv_env) -> None:
    args = {"within_ms": 60_000, "gap_ms": GAP, **window(inv_env)}
    rows = q.all_convoys(inv_env.clickhouse, min_occasions=3, **args)
    assert rows == [
        {
            "plate": BUDDY,
            "companion": TARGET,
            "occasions_plate": 3,
            "occasions_companion": 3,
            "support": 3,
            "co_passages": 6,
            "cameras": 2,
            "trips_plate": 3,
            "trips_companion": 3,
            "share": 1.0,
        }
    ]
    assert q.all_convoys(inv_env.clickhouse, min_occasions=2, **args) == rows
    two = q.all_convoys(inv_env.clickhouse, min_occasions=2, min_cameras=1, **args)
    assert [(r["plate"], r["companion"], r["support"]) for r in two] == [
        (BUDDY, TARGET, 3),
        (BUDDY, SOMETIMES, 2),
        (SOMETIMES, TARGET, 2),
    ]


def test_origin_destination_per_hour(inv_env) -> None:
    cells = q.od_matrix(inv_env.clickhouse, gap_ms=GAP, **window(inv_env))
    b = inv_env.base
    got = [(r["hour_ms"] - b, r["origin"], r["destination"], r["trips"]) for r in cells]
    road = lambda day, n_aa: [  # noqa: E731
        (day * DAY + 8 * HOUR, "alpha", "alpha", n_aa),
        (day * DAY + 8 * HOUR, "alpha", "bravo", 1),
        (day * DAY + 8 * HOUR, "alpha", "charlie", 1),
    ]
    assert got == [
        *road(0, 2),
        (9 * HOUR, "park", "park", 3),  # PRK0001 (in and out 1,800 s apart: one trip), 0002, 0004
        (10 * HOUR, "park", "park", 1),
        (11 * HOUR, "park", "park", 1),
        (12 * HOUR, "park", "park", 1),  # PRK0005 in
        (13 * HOUR, "park", "park", 1),  # its exit, read as PRK000S: another plate's trip
        (15 * HOUR, "park", "park", 1),  # PRK0002 leaving 6 h later: a new trip
        *road(1, 2),
        *road(2, 1),
    ]
    zones = q.od_matrix(inv_env.clickhouse, gap_ms=GAP, by="zone", **window(inv_env))
    assert {(r["origin"], r["destination"]) for r in zones} == {
        ("north", "north"),
        ("north", "south"),
    }


def test_travel_times_between_camera_pairs(inv_env) -> None:
    rows = q.travel_times(inv_env.clickhouse, gap_ms=GAP, **window(inv_env))
    # cam-1 -> cam-2: 600, 610, 660, 670, 720, 730 s; cam-2 -> cam-3: 900 s three times
    assert rows == [
        {
            "from_camera": "cam-1",
            "to_camera": "cam-2",
            "trips": 6,
            "median_s": 670.0,
            "p90_s": 730.0,
        },
        {
            "from_camera": "cam-2",
            "to_camera": "cam-3",
            "trips": 3,
            "median_s": 900.0,
            "p90_s": 900.0,
        },
    ]
    assert (
        q.travel_times(inv_env.clickhouse, gap_ms=GAP, min_trips=4, **window(inv_env)) == rows[:1]
    )


def test_dwell_pairs_entries_with_exits_and_finds_overstays(inv_env) -> None:
    now = inv_env.base + 4 * DAY
    inside = (now - (inv_env.base + 11 * HOUR)) / 1000  # PRK0003's second entry, never left
    args = {"now": now, "limit_s": 4 * 3600.0, **window(inv_env)}
    assert q.dwell(inv_env.clickhouse, **args) == [
        {
            "site": "park",
            "stays": 4,  # PRK0005's misread exit still closes its stay
            "inside": 1,
            "median_s": 21_600.0,
            "p90_s": inside,
            "overstays": 2,
        }
    ]
    over = q.overstays(inv_env.clickhouse, **args)
    assert [(r["plate"], r["seconds"], r["exit_ms"]) for r in over] == [
        ("PRK0003", inside, None),
        ("PRK0002", 21_600.0, inv_env.base + 15 * HOUR),
    ]
    assert q.dwell(inv_env.clickhouse, site="alpha", **args) == []


def test_anomalies_from_the_sink(inv_env) -> None:
    [a] = q.anomalies(inv_env.clickhouse, **window(inv_env))
    assert (a["plate"], a["kind"], a["first_camera_id"], a["second_camera_id"]) == (
        TARGET,
        "clone",
        "cam-north",
        "cam-south",
    )
    assert q.anomalies(inv_env.clickhouse, kind="misread", **window(inv_env)) == []
