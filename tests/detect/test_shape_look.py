"""The shape look: plate-shaped rectangles found by their outline, read before the text look."""

from __future__ import annotations

import cv2
import numpy as np

from platestream.plate_formats import formats_for
from services.detect.finder import PlateLocator
from services.detect.pipeline import Pipeline
from services.detect.shapes import character_blobs, plate_shapes
from services.detect.types import Box, Detection, Reading
from tests.detect.looks import Reader
from tests.detect.looks import pipeline as fake_pipeline

GB = formats_for(["GB"])
PLATE = Box(500, 400, 240, 60)  # 4:1


def scene(*, text: str = "AB12CDE", angle: float = 0.0, plate: bool = True) -> np.ndarray:
    """A grainy 1280x720 frame: grey road, a coloured car body, a white plate with black text."""
    rng = np.random.default_rng(3)
    img = np.full((720, 1280, 3), 110, np.uint8)
    cv2.rectangle(img, (380, 250), (860, 520), (40, 90, 160), -1)
    if plate:
        p = np.full((PLATE.h, PLATE.w, 3), 235, np.uint8)
        cv2.rectangle(p, (0, 0), (PLATE.w - 1, PLATE.h - 1), (20, 20, 20), 2)
        cv2.putText(p, text, (12, 46), cv2.FONT_HERSHEY_SIMPLEX, 1.4, (15, 15, 15), 4)
        m = cv2.getRotationMatrix2D((PLATE.w / 2, PLATE.h / 2), angle, 1.0)
        mask = cv2.warpAffine(np.full(p.shape[:2], 255, np.uint8), m, (PLATE.w, PLATE.h))
        p = cv2.warpAffine(p, m, (PLATE.w, PLATE.h))
        roi = img[PLATE.y : PLATE.y + PLATE.h, PLATE.x : PLATE.x + PLATE.w]
        roi[mask > 0] = p[mask > 0]
    noise = rng.normal(0, 6, img.shape)
    return np.clip(img + noise, 0, 255).astype(np.uint8)


def test_a_plate_is_found_by_its_outline_first() -> None:
    for angle in (0.0, 8.0):
        boxes = plate_shapes(scene(angle=angle), side=960)
        assert boxes, angle
        assert boxes[0].iou(PLATE) > 0.6, (angle, boxes)


def test_no_plate_no_characters_no_box() -> None:
    # the car body is a rectangle of a plate's proportions (1.8:1) but plain inside
    assert plate_shapes(scene(plate=False), side=960) == []
    assert plate_shapes(scene(text=""), side=960) == []  # a blank plate: nothing to read


def test_at_most_limit_boxes_in_frame_pixels() -> None:
    img = scene()
    big = cv2.resize(img, (2560, 1440))  # the same scene twice the size, scaled down to 960
    (b,) = plate_shapes(big, side=960, limit=1)
    assert b.iou(Box(PLATE.x * 2, PLATE.y * 2, PLATE.w * 2, PLATE.h * 2)) > 0.6


def test_character_blobs_count_character_shapes_up_to_five() -> None:
    p = np.full((60, 240), 235, np.uint8)
    assert character_blobs(p, 60) == 0
    cv2.putText(p, "AB1", (12, 46), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 15, 4)
    assert character_blobs(p, 60) == 3
    cv2.putText(p, "AB12CDE", (12, 46), cv2.FONT_HERSHEY_SIMPLEX, 1.4, 15, 4)
    assert character_blobs(p, 60) == 5


def test_the_shape_look_off_runs_nothing() -> None:
    locator = PlateLocator(lambda img, **k: [], conf=0.15, rescue_conf=0.01)
    assert locator.shapes(scene()) == []
    found = PlateLocator(lambda img, **k: [], conf=0.15, rescue_conf=0.01, shape_side=960).shapes(
        scene()
    )
    assert [(d.score, d.rescued) for d in found][:1] == [(0.01, True)]


def pipeline(reader: Reader, looks: list[str], **boxes: list[Detection]) -> Pipeline:
    return fake_pipeline(reader, looks, second=("rescue", "retry", "shapes", "text"), **boxes)


FRAME = np.zeros((720, 1280, 3), np.uint8)
GOOD = Reading("AB12CDE", 0.9, plate_format="GB")


def test_the_shape_look_runs_after_the_tiles_and_before_the_text_look() -> None:
    looks: list[str] = []
    shape = Detection(PLATE, 0.01, rescued=True)
    plates = pipeline(Reader(GOOD), looks, shapes=[shape]).process(FRAME, GB, encode_crops=False)
    assert looks == ["rescue", "retry", "shapes"]  # read: no text look
    assert [(p.box, p.rescued) for p in plates.plates] == [(PLATE, True)]


def test_a_text_line_on_a_shape_read_already_is_still_read() -> None:
    looks: list[str] = []
    unsure = Reading("AB12CDE", 0.3, plate_format="GB")  # the outline's crop: under the rule
    reader = Reader(unsure, GOOD)
    line = Box(510, 412, 220, 36)
    p = pipeline(
        reader,
        looks,
        shapes=[Detection(PLATE, 0.01, rescued=True)],
        text=[Detection(line, 0.01, rescued=True)],
    )
    plates = p.process(FRAME, GB, encode_crops=False).plates
    assert looks == ["rescue", "retry", "shapes", "text"]
    assert reader.crops == 2 and [pl.box for pl in plates] == [line]


def test_one_read_per_plate_the_most_confident() -> None:
    looks: list[str] = []
    car = Box(380, 250, 480, 270)  # holds the plate's centre
    other = Box(1000, 100, 240, 60)
    reader = Reader(GOOD, Reading("AB12CDE", 0.95, plate_format="GB"), GOOD)
    p = pipeline(
        reader,
        looks,
        first=[Detection(car, 0.5), Detection(PLATE, 0.5), Detection(other, 0.5)],
    )
    plates = p.process(FRAME, GB, encode_crops=False).plates
    # sorted by x: the car (0.9), the plate (0.95), the other car's plate of the same text (0.9)
    assert [(pl.box, pl.reading.confidence) for pl in plates] == [(PLATE, 0.95), (other, 0.9)]
