"""Which boxes of a frame are read: the detector's threshold, the tiles and the rescued boxes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from platestream.plate_formats import formats_for
from services.detect import bench_accuracy as ba
from services.detect.finder import PlateLocator
from services.detect.pipeline import Pipeline
from services.detect.types import Box, Detection, PlateResult, Reading

FRAME = np.zeros((720, 1280, 3), dtype=np.uint8)


class FakeDetector:
    """Gives ``frame`` for the whole frame and ``tile`` for each tile, filtered by ``conf``."""

    def __init__(self, frame: list[Detection], tile: list[Detection] | None = None) -> None:
        self.frame, self.tile = frame, tile or []
        self.calls: list[tuple[tuple[int, int], float]] = []

    def __call__(
        self, img: np.ndarray, offset: tuple[int, int] = (0, 0), conf: float = 0.15
    ) -> list[Detection]:
        self.calls.append((img.shape[:2], conf))
        found = self.frame if img.shape[:2] == FRAME.shape[:2] else self.tile
        return [d for d in found if d.score >= conf]


def det(score: float, x: int = 100) -> Detection:
    return Detection(Box(x, 300, 120, 40), score)


def locator(detect: FakeDetector, **kw: object) -> PlateLocator:
    return PlateLocator(detect, conf=0.15, **kw)  # type: ignore[arg-type]


def test_the_first_look_marks_the_boxes_under_the_threshold() -> None:
    detect = FakeDetector([det(0.6), det(0.05, x=600)])
    found = locator(detect, rescue_conf=0.01).first(FRAME)
    assert [(d.score, d.rescued) for d in found] == [(0.6, False), (0.05, True)]
    assert detect.calls == [((720, 1280), 0.01)]  # one detector run, at the low threshold


def test_without_rescue_the_first_look_keeps_the_threshold() -> None:
    detect = FakeDetector([det(0.6), det(0.09, x=600)])
    assert [d.score for d in locator(detect).first(FRAME)] == [0.6]
    assert locator(detect, tiles="off").retry(FRAME, []) == []
    assert {c for _, c in detect.calls} == {0.15}


def test_the_second_look_rescues_the_best_weak_boxes() -> None:
    weak = [det(0.02, x=10), det(0.09, x=300), det(0.005, x=600), det(0.04, x=900)]
    detect = FakeDetector(weak)
    find = locator(detect, tiles="off", rescue_conf=0.01, rescue_max=2)
    first = find.first(FRAME)
    assert [d.score for d in first] == [0.02, 0.09, 0.04] and all(d.rescued for d in first)
    again = find.retry(FRAME, first)
    assert [(d.score, d.rescued) for d in again] == [(0.09, True), (0.04, True)]
    assert len(detect.calls) == 1  # tiles off: the weak boxes of the first look are reused


def test_tiles_come_before_the_rescue() -> None:
    detect = FakeDetector([det(0.05)], tile=[det(0.5, x=20)])
    find = locator(detect, tiles="fallback", rescue_conf=0.01)
    again = find.retry(FRAME, find.first(FRAME))
    assert [(d.score, d.rescued) for d in again] == [(0.5, False)]
    assert len(detect.calls) == 5  # the frame, then its four tiles, all at the low threshold
    assert {c for _, c in detect.calls} == {0.01}


def test_weak_boxes_of_frame_and_tiles_are_merged_before_the_rescue() -> None:
    # the same place found on the frame and on a tile: one rescued box, the better score
    detect = FakeDetector([det(0.03)], tile=[det(0.07)])
    find = locator(detect, tiles="fallback", rescue_conf=0.01)
    again = find.retry(FRAME, find.first(FRAME))
    assert [(d.score, d.rescued) for d in again] == [(0.07, True)]


def test_the_cheap_rescue_takes_the_best_weak_boxes_of_the_frame_alone() -> None:
    weak = [det(0.02, x=10), det(0.09, x=300), det(0.04, x=900)]
    detect = FakeDetector(weak, tile=[det(0.5, x=20)])
    find = locator(detect, rescue_conf=0.01, rescue_max=2)
    assert [(d.score, d.rescued) for d in find.rescue(find.first(FRAME))] == [
        (0.09, True),
        (0.04, True),
    ]
    assert len(detect.calls) == 1  # no tile was searched for it
    assert locator(detect).rescue(weak) == []  # rescue_conf 0: no rescue


def test_weak_boxes_taller_than_wide_are_not_read() -> None:
    pole = Detection(Box(700, 100, 40, 200), 0.09)  # w/h 0.2: a pole or a sign, not a plate
    moto = Detection(Box(900, 300, 60, 50), 0.02)  # a motorcycle plate, 1.2:1
    detect = FakeDetector([pole, moto, det(0.03)])
    find = locator(detect, tiles="off", rescue_conf=0.01)
    first = find.first(FRAME)
    assert [d.score for d in find.rescue(first)] == [0.03, 0.02]
    assert [d.score for d in find.retry(FRAME, first)] == [0.03, 0.02]


def test_small_frames_are_not_tiled() -> None:
    detect = FakeDetector([det(0.03)], tile=[det(0.9)])
    find = locator(detect, tiles="fallback", rescue_conf=0.01, tile_above=1280)
    assert [d.rescued for d in find.retry(FRAME, find.first(FRAME))] == [True]
    assert len(detect.calls) == 1


class Reader:
    """The reading ``readings`` holds for the left edge of the box cropped (``frame_with``)."""

    def __init__(self, readings: dict[int, Reading]) -> None:
        self.readings = readings
        self.crops = 0

    def read(self, plate: np.ndarray, formats: object) -> Reading | None:
        self.crops += 1
        return self.readings.get(int(plate[0, 0, 0]))


def frame_with(*boxes: Box) -> np.ndarray:
    """A frame whose pixels under each box hold that box's left edge (what ``Reader`` keys on)."""
    img = np.zeros((720, 1280, 3), dtype=np.uint8)
    for b in boxes:
        img[0:720, b.x : b.x + b.w] = b.x
    return img


def pipeline(
    first: list[Detection],
    again: list[Detection],
    reader: Reader,
    rescue: Callable[[list[Detection]], list[Detection]] | None = None,
) -> tuple[Pipeline, list[list[Detection]]]:
    retried: list[list[Detection]] = []

    def retry(img: np.ndarray, weak: list[Detection]) -> list[Detection]:
        retried.append(weak)
        return again

    p = Pipeline(
        name="fake",
        detect=lambda img: first,
        retry=retry,
        rescue=rescue,
        reader=reader,
        margin=(0.0, 0.0),
        sure_conf=0.35,
        rescue_read_conf=0.6,
    )
    return p, retried


GB = formats_for(["GB"])
DECOY, PLATE = Box(100, 300, 120, 40), Box(200, 500, 120, 40)


def test_a_frame_that_read_nothing_gets_a_second_look() -> None:
    reader = Reader({200: Reading("AB12CDE", 0.9, plate_format="GB")})
    first = [Detection(DECOY, 0.7), Detection(PLATE, 0.03, rescued=True)]
    p, retried = pipeline(first, [Detection(PLATE, 0.03, rescued=True)], reader)
    plates = p.process(frame_with(DECOY, PLATE), GB, encode_crops=False).plates
    assert [(pl.reading.text, pl.rescued) for pl in plates] == [("AB12CDE", True)]
    assert retried == [[first[1]]]  # the weak box went to the second look, not to the reader
    assert reader.crops == 2  # the decoy, then the rescued box


def test_weak_boxes_that_read_spare_the_frame_its_tiles() -> None:
    reader = Reader({200: Reading("AB12CDE", 0.9, plate_format="GB")})
    first = [Detection(DECOY, 0.7), Detection(PLATE, 0.03, rescued=True)]
    p, retried = pipeline(first, [Detection(PLATE, 0.5)], reader, rescue=lambda weak: weak)
    plates = p.process(frame_with(DECOY, PLATE), GB, encode_crops=False).plates
    assert [(pl.reading.text, pl.rescued) for pl in plates] == [("AB12CDE", True)]
    assert retried == []  # read from the weak box: no tiles
    assert reader.crops == 2


def test_after_a_failed_rescue_the_tiles_read_only_what_is_new() -> None:
    reader = Reader({200: Reading("AB12CDE", 0.5, plate_format="GB")})  # too unsure to rescue
    weak = Detection(PLATE, 0.03, rescued=True)
    on_tile = Detection(Box(201, 500, 119, 40), 0.2)  # the same place at the threshold
    again = [Detection(Box(202, 501, 118, 40), 0.05, rescued=True), on_tile]
    p, retried = pipeline([weak], again, reader, rescue=lambda w: w)
    plates = p.process(frame_with(PLATE), GB, encode_crops=False).plates
    assert retried == [[weak]]
    # the rescued box again: skipped; the tile's box: read under the laxer rule and kept
    assert reader.crops == 2 and [(pl.detection_confidence, pl.rescued) for pl in plates] == [
        (0.2, False)
    ]


def test_a_frame_with_a_read_gets_no_second_look() -> None:
    reader = Reader({100: Reading("AB12CDE", 0.9, plate_format="GB")})
    p, retried = pipeline([Detection(DECOY, 0.7)], [Detection(PLATE, 0.5)], reader)
    plates = p.process(frame_with(DECOY, PLATE), GB, encode_crops=False).plates
    assert [pl.box for pl in plates] == [DECOY] and retried == []


def test_the_second_look_does_not_read_the_first_boxes_again() -> None:
    reader = Reader({})
    p, _ = pipeline([Detection(DECOY, 0.7)], [Detection(Box(102, 301, 118, 40), 0.8)], reader)
    assert p.process(frame_with(DECOY), GB, encode_crops=False).plates == []
    assert reader.crops == 1


def test_a_rescued_box_needs_a_plate_format_and_a_confident_read() -> None:
    def read(reading: Reading, det: Detection) -> list[PlateResult]:
        p, _ = pipeline([], [det], Reader({200: reading}))
        return p.process(frame_with(PLATE), GB, encode_crops=False).plates

    rescued = Detection(PLATE, 0.03, rescued=True)
    assert len(read(Reading("AB12CDE", 0.9, plate_format="GB"), rescued)) == 1
    assert read(Reading("AB12CDE", 0.5, plate_format="GB"), rescued) == []  # unsure read
    assert read(Reading("HELLO", 0.95), rescued) == []  # fits no format
    # a box the tiles found at the threshold keeps the older rule (format only under sure_conf)
    assert len(read(Reading("HELLO", 0.95), Detection(PLATE, 0.5))) == 1


def test_reads_on_no_labelled_plate_are_counted_as_false() -> None:
    sample = ba.Sample(Path("x.jpg"), [ba.Label(Box(100, 300, 120, 40), "AB12CDE")], "g")
    on = PlateResult(Box(105, 302, 118, 38), 0.5, Reading("AB12CDE", 0.9))
    off = PlateResult(Box(900, 100, 120, 40), 0.03, Reading("XY99ZZZ", 0.8), rescued=True)
    false = ba.unmatched(sample, [on, off])
    assert [(f.read, f.rescued, f.confidence) for f in false] == [("XY99ZZZ", True, 0.024)]
