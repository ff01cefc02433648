"""The reading cascade: a single-row plate read surely from its whole crop skips the line views;
anything less sure, or shaped like a two-line plate, is read from its lines as well."""

from __future__ import annotations

import numpy as np

from platestream.plate_formats import formats_for
from services.detect.reader import PlateReader, ReaderConfig
from services.detect.types import Box
from tests.detect.test_reader import FakeRec

WIDE = np.zeros((40, 200, 3), np.uint8)  # a single row's shape (aspect 5)
SQUARE = np.zeros((100, 150, 3), np.uint8)  # a two-line plate's shape (aspect 1.5)


class CountingRec(FakeRec):
    """FakeRec that records how many crops it was asked to read, call by call."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self.calls: list[int] = []

    def recognise(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        self.calls.append(len(crops))
        return super().recognise(crops)


class FakeLines:
    """A line detector that finds one text row across the crop and counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def lines(self, img: np.ndarray) -> list[tuple[Box, float]]:
        self.calls += 1
        h, w = img.shape[:2]
        return [(Box(0, h // 4, w, h // 2), 0.9)]


def _reader(rec: CountingRec, accept: float = 0.9) -> tuple[PlateReader, FakeLines]:
    lines = FakeLines()
    reader = PlateReader(
        rec=rec,  # type: ignore[arg-type]
        line_det=lines,  # type: ignore[arg-type]
        config=ReaderConfig(whole_crop_accept=accept),
    )
    return reader, lines


def test_sure_single_row_read_skips_the_line_views() -> None:
    rec = CountingRec("ABC1234")
    reader, lines = _reader(rec)
    reading = reader.read(WIDE, formats_for(["BR"]))
    assert reading is not None and (reading.text, reading.plate_format) == ("ABC1234", "BR_OLD")
    assert lines.calls == 0 and rec.calls == [1]


def test_an_unsure_character_reads_the_lines_too() -> None:
    rec = CountingRec("ABC1234", {4: {"2": 0.6, "Z": 0.3}})
    reader, lines = _reader(rec)
    reading = reader.read(WIDE, formats_for(["BR"]))
    assert reading is not None and reading.text == "ABC1234"
    # the whole crop first, then the row found and the row as found, in one more call
    assert lines.calls == 1 and rec.calls == [1, 1]


def test_a_character_the_format_changed_is_not_taken_at_once() -> None:
    rec = CountingRec("ABCO234", {3: {"O": 0.95, "0": 0.04}})
    reader, lines = _reader(rec)
    reading = reader.read(WIDE, formats_for(["BR"]))
    assert reading is not None
    assert lines.calls == 1


def test_a_reading_that_fits_no_format_is_not_taken_at_once() -> None:
    rec = CountingRec("ABCDEFGHIJ")
    reader, lines = _reader(rec)
    reader.read(WIDE, formats_for(["BR"]))
    assert lines.calls == 1


def test_a_two_line_shape_always_reads_its_lines() -> None:
    rec = CountingRec("ABC1234")
    reader, lines = _reader(rec)
    reader.read(SQUARE, formats_for(["BR"]))
    assert lines.calls == 1


def test_zero_turns_the_quick_accept_off() -> None:
    rec = CountingRec("ABC1234")
    reader, lines = _reader(rec, accept=0.0)
    reading = reader.read(WIDE, formats_for(["BR"]))
    assert reading is not None and reading.text == "ABC1234"
    assert lines.calls == 1 and rec.calls == [2]


def test_same_reading_with_and_without_the_quick_accept() -> None:
    for text, region in (("ABC1234", "BR"), ("AB12CDE", "GB"), ("7ABC123", "US")):
        quick = _reader(CountingRec(text))[0].read(WIDE, formats_for([region]))
        full = _reader(CountingRec(text), accept=0.0)[0].read(WIDE, formats_for([region]))
        assert quick is not None and full is not None
        assert (quick.text, quick.plate_format) == (full.text, full.plate_format)
