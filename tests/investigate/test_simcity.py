"""The simulated city (ground truth for `platestream bench city`) and the clone detector on it."""

from __future__ import annotations

from services.investigate.bench_sim import clone_scores, score
from services.investigate.clones import CloneConfig
from services.investigate.simcity import DAY, simulate


def small_city():
    return simulate(seed=3, days=7, vehicles=300, clones=5, convoys=3, parkers=30, overstays=4)


def test_the_city_is_deterministic_and_carries_its_truth() -> None:
    a, b = small_city(), small_city()
    assert a.passages == b.passages
    assert (len(a.clones), len(a.convoys), len(a.overstays)) == (5, 3, 4)
    assert all(a.start <= p.ts < a.start + 8 * DAY for p in a.passages)
    assert [p.ts for p in a.passages] == sorted(p.ts for p in a.passages)
    misreads = [p for p in a.passages if p.plate != p.truth_plate]
    assert 0.005 < len(misreads) / len(a.passages) < 0.02  # about 1 % OCR noise
    gate = [p for p in a.passages if p.camera_id == "park-gate"]
    assert {p.direction for p in gate} == {"approaching", "leaving"}
    for plate, entry in a.overstays:
        exits = [p.ts for p in gate if p.truth_plate == plate and p.direction == "leaving"]
        assert exits and exits[0] - entry >= 6 * 3_600_000


def test_the_clone_detector_finds_the_planted_clones_and_calls_misreads_misreads() -> None:
    city = small_city()
    r = clone_scores(city, CloneConfig(max_speed_kmh=120))
    assert (r["precision"], r["recall"], r["found"]) == (1.0, 1.0, 5)
    assert r["anomalies"] == {"clone": 60, "misread": 16}


def test_score() -> None:
    assert score({1, 2, 3}, {2, 3, 4, 5}) | {"false_positives": None, "missed": None} == {
        "found": 3,
        "planted": 4,
        "true_positives": 2,
        "precision": 0.6667,
        "recall": 0.5,
        "false_positives": None,
        "missed": None,
    }
