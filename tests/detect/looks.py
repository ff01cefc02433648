"""A Pipeline whose looks are fakes that record their order, and a reader of fixed readings:
for the tests of the second look (text look, shape look)."""

from __future__ import annotations

import numpy as np

from services.detect.pipeline import Pipeline
from services.detect.types import Detection, Reading


class Reader:
    """``readings`` in turn for every crop (the last one again when they run out); counts crops."""

    def __init__(self, *readings: Reading | None) -> None:
        self.readings, self.crops = readings, 0

    def read(self, plate: np.ndarray, formats: object) -> Reading | None:
        self.crops += 1
        return self.readings[min(self.crops, len(self.readings)) - 1]


def pipeline(
    reader: Reader,
    looks: list[str],
    *,
    second: tuple[str, ...] = ("rescue", "retry", "text"),
    sure_conf: float = 0.0,
    rescue_read_conf: float = 0.45,
    **boxes: list[Detection],
) -> Pipeline:
    """``boxes["first"]`` from the detector; each look named in ``second`` appends its name to
    ``looks`` and gives ``boxes[name]``."""

    def look(name: str):  # type: ignore[no-untyped-def]
        def run(*args: object) -> list[Detection]:
            looks.append(name)
            return boxes.get(name, [])

        return run

    return Pipeline(
        name="fake",
        detect=lambda img: boxes.get("first", []),
        reader=reader,
        margin=(0.0, 0.0),
        sure_conf=sure_conf,
        rescue_read_conf=rescue_read_conf,
        **{name: look(name) for name in second},  # type: ignore[arg-type]
    )
