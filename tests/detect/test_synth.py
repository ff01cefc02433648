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
