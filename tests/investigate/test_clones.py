"""The clone detector's pure logic: speed check, false-positive controls, misread vs clone, memory bounds."""

from __future__ import annotations

import pytest

from services.investigate.clones import CloneConfig, CloneDetector, Sighting, haversine_km

T = 1_767_225_600_000
# Two cameras one degree of longitude apart on the equator: 111.195 km.
A = {"camera_id": "cam-a", "lat": 0.0, "lon": 0.0, "site": "west"}
B = {"camera_id": "cam-b", "lat": 0.0, "lon": 1.0, "site": "east"}
NEAR = {"camera_id": "cam-n", "lat": 0.0, "lon": 0.0045, "site": "mid"}  # 0.5 km from A


def see(event: str, cam: dict, plate: str, ts: int, conf: float = 0.95, variants=()) -> Sighting:
    return Sighting(
        event,
        cam["camera_id"],
        plate,
        ts,
        conf,
        cam["lat"],
        cam["lon"],
        cam["site"],
        tuple(variants),
    )


def test_haversine_one_degree_on_the_equator() -> None:
    assert haversine_km(0, 0, 0, 1) == pytest.approx(111.19493, abs=1e-5)
    assert haversine_km(51.5, -0.1, 51.5, -0.1) == 0.0


def test_impossible_speed_is_a_clone_with_both_sightings() -> None:
    d = CloneDetector(CloneConfig())
    assert d.check(see("e1", A, "ABC1234", T)) == []
    [f] = d.check(see("e2", B, "ABC1234", T + 600_000))
    assert f.kind == "clone"
    assert (f.first.event_id, f.second.event_id) == ("e1", "e2")
    assert f.distance_km == 111.195
    assert f.seconds_apart == 600.0
    assert f.speed_kmh == 635.4  # 111.195 km / (600 s + 30 s skew)
    assert f.reason.startswith("111.2 km in 600 s (+30 s skew): 635 km/h > 250 km/h; clone")


def test_possible_speed_is_no_anomaly() -> None:
    d = CloneDetector(CloneConfig())
    d.check(see("e1", A, "ABC1234", T))
    assert d.check(see("e2", B, "ABC1234", T + 40 * 60_000)) == []  # 164.7 km/h


def test_clock_skew_allowance_decides_a_borderline_pair() -> None:
    # 1,590 s apart: 251.8 km/h without allowance, 247.1 km/h with 30 s of skew allowed.
    for skew_ms, expected in ((0, 1), (30_000, 0)):
        d = CloneDetector(CloneConfig(skew_ms=skew_ms))
        d.check(see("e1", A, "ABC1234", T))
        assert len(d.check(see("e2", B, "ABC1234", T + 1_590_000))) == expected


def test_cameras_of_one_site_or_too_close_are_never_compared() -> None:
    same_site = {**B, "site": "west"}
    for other in (same_site, NEAR):  # NEAR: 0.5 km < min_distance_km
        d = CloneDetector(CloneConfig())
        d.check(see("e1", A, "ABC1234", T))
        assert d.check(see("e2", other, "ABC1234", T + 1000)) == []


def test_travel_time_table_overrides_distance() -> None:
    # 0.5 km apart, but the road between them takes 10 minutes at least.
    d = CloneDetector(CloneConfig(travel_s={("cam-n", "cam-a"): 600.0}))
    d.check(see("e1", A, "ABC1234", T))
    [f] = d.check(see("e2", NEAR, "ABC1234", T + 60_000))
    assert (f.kind, f.min_travel_s, f.seconds_apart) == ("clone", 600.0, 60.0)
    assert "against a shortest trip of 600 s" in f.reason
    assert d.check(see("e3", NEAR, "ABC1234", T + 580_000)) == []  # 580 + 30 s skew >= 600 s


def test_low_confidence_reads_are_ignored_and_not_remembered() -> None:
    d = CloneDetector(CloneConfig(min_confidence=0.6))
    assert d.check(see("e1", A, "ABC1234", T, conf=0.5)) == []
    assert d.check(see("e2", B, "ABC1234", T + 60_000)) == []
    assert d.ignored == 1


def test_a_doubtful_read_makes_the_conflict_a_misread() -> None:
    d = CloneDetector(CloneConfig(clone_confidence=0.85))
    d.check(see("e1", A, "ABC1234", T))
    [f] = d.check(see("e2", B, "ABC1234", T + 60_000, conf=0.7))
    assert f.kind == "misread"
    assert "cam-b read it with confidence 0.70 < 0.85" in f.reason


def test_a_passage_that_also_read_a_variant_is_a_misread() -> None:
    d = CloneDetector(CloneConfig())
    d.check(see("e1", A, "ABC1234", T))
    [f] = d.check(see("e2", B, "ABC1234", T + 60_000, variants=("ABC1234", "A8C1234")))
    assert f.kind == "misread"
    assert "also read as A8C1234" in f.reason


def test_a_confusable_plate_seen_nearby_makes_the_conflict_a_misread() -> None:
    d = CloneDetector(CloneConfig())
    d.check(see("e1", A, "ABC1234", T))
    d.check(see("e2", B, "A8C1234", T + 40_000))  # the vehicle at B is A8C1234 ...
    [f] = d.check(see("e3", B, "ABC1234", T + 60_000))  # ... read as ABC1234 a little later
    assert f.kind == "misread"
    assert "A8C1234 was seen at cam-b 20 s from the sighting at cam-b" in f.reason


def test_a_confusable_plate_far_away_does_not_excuse_a_clone() -> None:
    d = CloneDetector(CloneConfig())
    d.check(see("e0", {**A, "camera_id": "cam-x", "site": "x", "lon": 3.0}, "A8C1234", T))
    d.check(see("e1", A, "ABC1234", T))
    [f] = d.check(see("e3", B, "ABC1234", T + 60_000))
    assert f.kind == "clone"


def test_out_of_order_arrival_orders_the_pair_by_time_and_redelivery_is_silent() -> None:
    d = CloneDetector(CloneConfig())
    d.check(see("late", B, "ABC1234", T + 60_000))
    [f] = d.check(see("early", A, "ABC1234", T))
    assert (f.first.event_id, f.second.event_id) == ("early", "late")
    assert d.check(see("late", B, "ABC1234", T + 60_000)) == []


def test_memory_is_bounded_by_plates_and_by_time() -> None:
    d = CloneDetector(CloneConfig(max_plates=2, window_ms=3_600_000))
    d.check(see("e1", A, "AAA1111", T))
    d.check(see("e2", A, "BBB2222", T))
    d.check(see("e3", A, "CCC3333", T))
    assert (len(d), d.evicted) == (2, 1)
    assert d.check(see("e4", B, "AAA1111", T + 1000)) == []  # its first sighting was evicted
    assert d.expire(T + 3_600_000) == 0
    assert d.expire(T + 3_600_001) == 1  # CCC3333, last seen at T
    assert d.expire(T + 3_601_001) == 1 and len(d) == 0  # AAA1111, last seen at T + 1 s
    d2 = CloneDetector(CloneConfig(window_ms=3_600_000))
    d2.check(see("e1", A, "ABC1234", T))
    assert d2.check(see("e2", B, "ABC1234", T + 3_600_001)) == []  # first one is past the window


def test_sightings_kept_per_plate_are_bounded() -> None:
    d = CloneDetector(CloneConfig(per_plate=2))
    for i in range(5):
        d.check(see(f"e{i}", A, "ABC1234", T + i))
    findings = d.check(see("b", B, "ABC1234", T + 60_000))
    assert [f.first.event_id for f in findings] == ["e3", "e4"]
