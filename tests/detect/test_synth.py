"""The synthetic plate set: labels in the OpenALPR format, boxes inside the image, deterministic."""

from __future__ import annotations

import random
from pathlib import Path

import cv2

from platestream.plate_formats import formats_for, match
from services.detect import bench_accuracy as ba
from services.detect import synth


def test_generate_writes_labelled_images(tmp_path: Path) -> None:
    n = synth.generate(tmp_path, 2, seed=3)
    assert n == 8
    samples = ba.load_dataset(tmp_path)
    assert {s.group for s in samples} == {"gb", "eu", "us", "br"}
    for s in samples:
        img = cv2.imread(str(s.image))
        (label,) = s.labels
        assert label.box.x >= 0 and label.box.x + label.box.w <= img.shape[1]
        assert label.box.y >= 0 and label.box.y + label.box.h <= img.shape[0]
        region = ba.region_of(s.group)
        assert match(label.plate, formats_for([region])), (s.group, label.plate)


def test_same_seed_same_plate() -> None:
    a = synth.render_sample(random.Random("x"), "eu")
    b = synth.render_sample(random.Random("x"), "eu")
    assert a[2] == b[2] and a[1] == b[1]
    assert (a[0] == b[0]).all()


def test_us_plates_cover_fifteen_state_styles() -> None:
    styles = {synth.plate_spec(random.Random(f"us-styles:{i}"), "us").style for i in range(400)}
    assert len(synth.US_STATES) == len(synth.US_SLOGANS) >= 15
    assert len(styles) >= 15
    for i in range(40):
        spec = synth.plate_spec(random.Random(f"us-formats:{i}"), "us")
        assert match(spec.text, formats_for(["US"])), spec


def test_the_command_draws_only_the_regions_asked_for(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from platestream.cli import app

    out = tmp_path / "set"
    result = CliRunner().invoke(
        app, ["bench", "synth", "--out", str(out), "--per-region", "2", "--regions", "us,gb"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["gb", "us"]
    assert len(ba.load_dataset(out)) == 4
    bad = CliRunner().invoke(app, ["bench", "synth", "--out", str(out), "--regions", "xx"])
    assert bad.exit_code != 0 and "xx" in bad.output
