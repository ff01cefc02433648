"""The default pipeline on frames of the ingest simulator and on a two-line plate."""

from __future__ import annotations

import random

import numpy as np
import pytest

from platestream.plate_formats import formats_for
from services.detect import synth
from services.detect.types import Box


def test_reads_the_ingest_sim_scene(pipeline) -> None:
    sim = pytest.importorskip("services.ingest.sim")
    checked = 0
    for t in (2.4, 4.2, 6.3, 9.1):
        img, truth = sim.render_frame(7, t)
        result = pipeline.process(img, formats_for(["GB", "US"]))
        for g in truth:
            if not g["plate_fully_visible"]:
                continue
            box = Box(*g["plate_box"])
            best = max(result.plates, key=lambda p: p.box.iou(box))
            assert best.box.iou(box) >= 0.3
            assert best.reading.text == g["plate"]
            assert best.crop_jpeg and best.crop_jpeg[:3] == b"\xff\xd8\xff"
            assert len(best.reading.char_confidences) == len(best.reading.text)
            assert best.reading.candidates[0].text == best.reading.text
            checked += 1
    assert checked >= 3


def test_two_line_plate_is_read_top_row_first(pipeline) -> None:
    rng = random.Random(11)
    spec = synth.PlateSpec("ABC1D23", "ABC\n1D23", "br", "br_moto")
    plate = synth.draw_plate(spec, rng)
    canvas = np.full((plate.shape[0] + 40, plate.shape[1] + 40, 3), 90, np.uint8)
    canvas[20:-20, 20:-20] = plate
    reading = pipeline.reader.read(canvas, formats_for(["BR"]))
    assert reading is not None
    assert reading.text == "ABC1D23"
    assert reading.lines == 2
    assert reading.plate_format == "BR_MERCOSUR"


def test_blank_image_gives_no_plates(pipeline) -> None:
    result = pipeline.process(np.full((720, 1280, 3), 128, np.uint8), formats_for(["EU"]))
    assert result.plates == []
    assert set(result.timings_ms) >= {"plate_detect", "ocr"}


def test_vehicle_box_and_class_are_attached(br_dataset) -> None:  # type: ignore[no-untyped-def]
    import cv2

    from services.detect import backends
    from services.detect.settings import OnnxBackend

    pipe = backends.build(OnnxBackend(threads=2, vehicles=True))
    result = pipe.process(cv2.imread(str(br_dataset / "br001.jpg")), formats_for(["BR"]))
    (plate,) = result.plates
    assert plate.vehicle_type == "car"
    assert plate.vehicle_box is not None
    assert plate.vehicle_box.contains_point(
        plate.box.x + plate.box.w / 2, plate.box.y + plate.box.h / 2
    )
    assert "vehicle_detect" in result.timings_ms
