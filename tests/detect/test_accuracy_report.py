"""Accuracy report: plate-size buckets, character confusions, the threshold curve, and the command on real photos."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.detect import accuracy_report as ar
from services.detect.bench_accuracy import Case, Label, Sample, match
from services.detect.types import Box, Candidate, PlateResult, Reading


def case(label: str, read: str | None, conf: float | None = 0.9, height: int = 50) -> Case:
    iou = 0.8 if read is not None else 0.0
    return Case("x.jpg", "g", label, read, iou, conf, label_height=height)


def test_size_buckets_count_recall_and_exact_per_height() -> None:
    cases = [
        case("ABC1234", "ABC1234", height=12),
        case("ABC1234", None, None, height=19),
        case("ABC1234", "ABC1234", height=20),  # 20 opens the 20-30 bucket
        case("ABC1234", "ABC1Z34", height=44),
        case("ABC1234", "ABC1234", height=100),
        case("ABC1234", "ABC1234", height=262),
    ]
    rows = {r["bucket"]: r for r in ar.by_plate_size(cases)}
    assert list(rows) == ["<20", "20-30", "30-45", "45-70", "70-100", ">=100"]
    assert (rows["<20"]["plates"], rows["<20"]["detection_recall"]) == (2, 0.5)
    assert rows["<20"]["exact_accuracy"] == 0.5
    assert (rows["20-30"]["plates"], rows["20-30"]["exact_accuracy"]) == (1, 1.0)
    assert (rows["30-45"]["detection_recall"], rows["30-45"]["exact_accuracy"]) == (1.0, 0.0)
    assert rows["45-70"]["plates"] == 0 and rows["45-70"]["detection_recall"] == 0.0
    assert rows[">=100"]["plates"] == 2
    assert rows[">=100"]["max_px"] is None


def test_confusions_rank_substitutions_and_count_length_errors() -> None:
    cases = [
        case("ABO1234", "AB01234"),  # O->0
        case("OBC1234", "0BC1234"),  # O->0
        case("IBC1834", "1BC1B34"),  # I->1, 8->B
        case("ABC1234", "ABC1234"),
        case("ABC1234", "XABC1234"),  # too long: no substitutions counted
        case("ABC1234", "ABC123"),
        case("ABC1234", None, None),
    ]
    conf = ar.confusions(cases)
    assert conf["substitutions"] == [
        {"true": "O", "read": "0", "count": 2},
        {"true": "8", "read": "B", "count": 1},
        {"true": "I", "read": "1", "count": 1},
    ]
    assert (conf["same_length_reads"], conf["same_length_wrong"]) == (4, 3)
    assert (conf["too_long"], conf["too_short"], conf["no_read"]) == (1, 1, 1)


def test_threshold_curve_splits_plates_into_accepted_review_and_missed() -> None:
    cases = [
        case("AAA1111", "AAA1111", 0.95),
        case("BBB2222", "BBB2222", 0.80),
        case("CCC3333", "CCC3338", 0.60),  # a confident-ish misread
        case("DDD4444", "DDD4444", 0.30),
        case("EEE5555", None, None),
    ]
    curve = {p["threshold"]: p for p in ar.threshold_curve(cases)}
    assert len(curve) == 21 and min(curve) == 0.0 and max(curve) == 1.0
    at0 = curve[0.0]
    assert (at0["accepted"], at0["accepted_share"], at0["accepted_exact"]) == (4, 0.8, 0.75)
    assert (at0["review_share"], at0["missed_share"], at0["accepted_wrong"]) == (0.0, 0.2, 1)
    at_60 = curve[0.6]  # 0.60 itself is accepted (>=)
    assert (at_60["accepted"], at_60["accepted_wrong"], at_60["review_share"]) == (3, 1, 0.2)
    at_65 = curve[0.65]
    assert (at_65["accepted"], at_65["accepted_exact"], at_65["review_share"]) == (2, 1.0, 0.4)
    assert curve[1.0]["accepted"] == 0 and curve[1.0]["accepted_exact"] is None
    for p in curve.values():
        assert p["accepted_share"] + p["review_share"] + p["missed_share"] == pytest.approx(1.0)
    hits = ar.thresholds_for(ar.threshold_curve(cases), (0.75, 0.99))
    assert hits["0.75"] == {"threshold": 0.0, "accepted_share": 0.8, "review_share": 0.0}
    assert hits["0.99"]["threshold"] == 0.65
    assert ar.thresholds_for(ar.threshold_curve([case("A1", "B1", 0.9)]), (0.9,)) == {"0.90": None}


def test_match_keeps_the_confidence_detect_emits() -> None:
    """The case's confidence is PlateRead.confidence: reading confidence x detection score."""
    reading = Reading("ABC1234", 0.9, candidates=[Candidate("ABC1234", 0.9)])
    plates = [
        PlateResult(Box(500, 500, 40, 20), 0.99, Reading("ZZZ9999", 0.99)),
        PlateResult(Box(102, 101, 98, 30), 0.5, reading),
    ]
    sample = Sample(Path("a.jpg"), [], "g")
    hit = match(sample, Label(Box(100, 100, 100, 32), "ABC1234"), plates)
    assert (hit.read, hit.label_height, hit.candidates) == ("ABC1234", 32, ["ABC1234"])
    assert hit.confidence == pytest.approx(0.45) and hit.read_confidence == 0.9
    miss = match(sample, Label(Box(900, 900, 50, 20), "XYZ1234"), plates)
    assert (miss.read, miss.confidence, miss.detected) == (None, None, False)


def test_render_and_plot_of_the_sections(tmp_path: Path) -> None:
    cases = [case("ABO1234", "AB01234", 0.5, 25), case("ABC1234", "ABC1234", 0.9, 80)]
    report = ar.sections(cases)
    text = "\n".join(ar.render(report))
    assert "O->0 1" in text
    assert "lowest t with >= 99% exact among accepted: t=0.55" in text
    png = ar.plot(report, tmp_path / "sub" / "curve.png", "test")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_on_real_photos_writes_the_sections_and_the_plot(
    br_dataset: Path, tmp_path: Path
) -> None:
    """`platestream bench accuracy` on three shared photos: JSON with the three sections, a PNG."""
    from platestream.cli import app

    out, png = tmp_path / "acc.json", tmp_path / "acc.png"
    args = ["bench", "accuracy", "--dataset", str(br_dataset), "--limit", "3"]
    result = CliRunner().invoke(app, [*args, "--json", str(out), "--plot", str(png)])
    assert result.exit_code == 0, result.output
    assert "by plate height" in result.output
    report = json.loads(out.read_text(encoding="utf-8"))
    sizes = report["by_plate_size"]
    assert sum(b["plates"] for b in sizes) == report["overall"]["plates"] == 3
    assert report["confusions"]["same_length_reads"] + report["confusions"]["no_read"] >= 2
    curve = report["threshold_curve"]
    assert [p["threshold"] for p in curve][:3] == [0.0, 0.05, 0.1]
    assert curve[0]["accepted"] == 3  # every plate of these photos is found and read
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
