"""Ranking of readings with a stand-in recogniser: formats fix confusables but never force a
confidently read foreign plate into the camera's format."""

from __future__ import annotations

import numpy as np

from platestream.plate_formats import formats_for
from services.detect import ctc
from services.detect.reader import PlateReader, expand_box
from services.detect.types import Box

CHARSET = ["<blank>", *ctc.ALPHABET, "-", " "]


class FakeRec:
    """Returns a fixed CTC matrix for every crop: ``text`` with per-position overrides."""

    charset = CHARSET

    def __init__(self, text: str, overrides: dict[int, dict[str, float]] | None = None) -> None:
        rows = []
        for i, ch in enumerate(text):
            row = np.full(len(CHARSET), 1e-4)
            row[0] = 0.02  # a real recogniser leaves some blank probability on character frames
            for c, p in (overrides or {}).get(i, {ch: 0.97}).items():
                row[CHARSET.index(c)] = p
            rows.append(row)
            blank = np.full(len(CHARSET), 1e-4)
            blank[0] = 0.97
            rows.append(blank)
        m = np.array(rows)
        self.matrix = m / m.sum(1, keepdims=True)

    def recognise(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        return [self.matrix for _ in crops]


CROP = np.zeros((40, 200, 3), np.uint8)


def _read(
    text: str, region: str, overrides: dict[int, dict[str, float]] | None = None
) -> tuple[str, str | None]:
    reader = PlateReader(rec=FakeRec(text, overrides))  # type: ignore[arg-type]
    reading = reader.read(CROP, formats_for([region]))
    assert reading is not None
    return reading.text, reading.plate_format


def test_unsure_o_in_a_digit_slot_becomes_zero() -> None:
    assert _read("ABCO234", "BR", {3: {"O": 0.55, "0": 0.4}}) == ("ABC0234", "BR_OLD")


def test_unsure_one_in_a_letter_slot_becomes_i() -> None:
    assert _read("AB12CDE", "GB", {2: {"1": 0.5, "I": 0.45}}) == ("AB12CDE", "GB")
    assert _read("A112CDE", "GB", {1: {"1": 0.55, "I": 0.4}}) == ("AI12CDE", "GB")


def test_confident_foreign_plate_is_not_forced_into_a_format() -> None:
    # a Czech-style plate on an EU camera: no configured format has this shape; dropping or
    # changing a confidently read character must lose against the free reading
    text, fmt = _read("1AB2345", "EU")
    assert text == "1AB2345"
    assert fmt is None


def test_confident_character_beats_format() -> None:
    # the OCR is sure of the O: the BR format would need an improbable 0, so the text stays
    text, _ = _read("ABCO234", "BR", {3: {"O": 0.999, "0": 1e-6}})
    assert text == "ABCO234"


def test_expand_box_clips_to_image() -> None:
    box = expand_box(Box(5, 5, 100, 20), 0.1, 0.5, 108, 40)
    assert (box.x, box.y) == (0, 0)
    assert box.x + box.w <= 108 and box.y + box.h <= 40
