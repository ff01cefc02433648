"""The text look, last of the second look: plate-shaped text lines of the frame read as plates."""

from __future__ import annotations

import numpy as np

from platestream.plate_formats import formats_for
from services.detect.finder import PlateLocator, plates_around
from services.detect.types import Box, Detection, Reading
from tests.detect.looks import Reader, pipeline

FRAME = np.zeros((720, 1280, 3), dtype=np.uint8)
GB = formats_for(["GB"])
LINE = Box(200, 500, 100, 20)  # 5:1, a plate's characters


def test_only_plate_shaped_lines_become_plates_best_first() -> None:
    lines = [
        (Box(10, 10, 40, 30), 0.99),  # 1.3:1, a word's block, not a plate line
        (LINE, 0.7),
        (Box(0, 0, 1200, 700), 0.95),  # the map bled over the whole frame
        (Box(600, 100, 60, 6), 0.9),  # too thin to read
        (Box(800, 400, 130, 26), 0.8),
        (Box(900, 600, 400, 20), 0.85),  # 20:1, a banner
    ]
    assert plates_around(lines, 1280, 720) == [Box(794, 399, 143, 29), Box(195, 499, 110, 22)]


def test_grown_plates_stay_inside_the_frame() -> None:
    (b,) = plates_around([(Box(0, 0, 100, 20), 0.9)], 1280, 720)
    assert (b.x, b.y) == (0, 0) and b.x + b.w <= 1280


class Lines:
    def __init__(self, lines: list[tuple[Box, float]]) -> None:
        self.lines, self.sides = lines, []  # type: list[tuple[Box, float]], list[int]

    def __call__(self, img: np.ndarray, *, side: int) -> list[tuple[Box, float]]:
        self.sides.append(side)
        return self.lines


def text_locator(lines: Lines, side: int = 640, **kw: object) -> PlateLocator:
    return PlateLocator(
        lambda img, **k: [],
        conf=0.15,
        rescue_conf=0.01,
        lines=lines,
        text_side=side,
        **kw,  # type: ignore[arg-type]
    )


def test_the_text_look_gives_rescued_boxes_at_the_floor() -> None:
    lines = Lines([(Box(100 * i, 300, 100, 20), 0.9 - i / 10) for i in range(5)])
    found = text_locator(lines, rescue_max=2).text(FRAME)
    assert [(d.box.x, d.score, d.rescued) for d in found] == [(0, 0.01, True), (95, 0.01, True)]
    assert lines.sides == [640]


def test_the_text_look_off_runs_nothing() -> None:
    lines = Lines([(LINE, 0.9)])
    assert text_locator(lines, side=0).text(FRAME) == []
    assert PlateLocator(lambda img, **k: [], conf=0.15).text(FRAME) == []
    assert lines.sides == []


RULE = {"sure_conf": 0.35, "rescue_read_conf": 0.6}


def test_the_text_look_runs_last_and_only_when_nothing_read() -> None:
    looks: list[str] = []
    plate = Detection(LINE, 0.01, rescued=True)
    reader = Reader(Reading("AB12CDE", 0.9, plate_format="GB"))
    plates = (
        pipeline(reader, looks, text=[plate], **RULE).process(FRAME, GB, encode_crops=False).plates
    )
    assert looks == ["rescue", "retry", "text"]
    assert [(p.box, p.rescued, p.detection_confidence) for p in plates] == [(LINE, True, 0.01)]

    looks.clear()
    pipeline(reader, looks, retry=[Detection(LINE, 0.5)], **RULE).process(
        FRAME, GB, encode_crops=False
    )
    assert looks == ["rescue", "retry"]  # the tiles read a plate: no text look


def test_text_lines_are_read_under_the_rescued_rule() -> None:
    looks: list[str] = []
    plate = Detection(LINE, 0.01, rescued=True)
    for reading in (Reading("AB12CDE", 0.5, plate_format="GB"), Reading("HELLO", 0.99)):
        p = pipeline(Reader(reading), looks, text=[plate], **RULE)
        assert p.process(FRAME, GB, encode_crops=False).plates == []


def test_a_line_on_a_box_read_already_is_not_read_again() -> None:
    looks: list[str] = []
    weak = Detection(Box(201, 501, 98, 20), 0.03, rescued=True)
    reader = Reader(Reading("AB12CDE", 0.5, plate_format="GB"))  # too unsure for any rescue
    p = pipeline(reader, looks, rescue=[weak], text=[Detection(LINE, 0.01, rescued=True)], **RULE)
    assert p.process(FRAME, GB, encode_crops=False).plates == []
    assert reader.crops == 1  # the weak box; the text line on the same place was skipped


def test_a_read_that_fits_no_plate_format_does_not_end_the_frame() -> None:
    looks: list[str] = []
    sign = Detection(Box(600, 100, 120, 40), 0.7)
    plate = Detection(LINE, 0.01, rescued=True)

    # the detector's sure box reads a word at 0.05: kept, and the frame still gets every look
    reader = Reader(Reading("ID", 0.05), Reading("AB12CDE", 0.9, plate_format="GB"))
    p = pipeline(reader, looks, first=[sign], text=[plate], **RULE)
    plates = p.process(FRAME, GB, encode_crops=False).plates
    assert looks == ["rescue", "retry", "text"]
    assert [(pl.reading.text, pl.rescued) for pl in plates] == [("ID", False), ("AB12CDE", True)]
