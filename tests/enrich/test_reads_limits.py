"""Enrich's readers refuse plate text over the cap and camera ids that are not ids (dead letters)."""

from __future__ import annotations

import pytest

from platestream.errors import BadInputError
from services.enrich.reads import from_camera_event, from_plate_read
from tests.enrich.helpers import camera_event, plate_read

TP = ("anpr.plate-reads.v1", 0)


def read(plate: str, camera: str = "cam-1") -> dict[str, object]:
    return {
        **plate_read("r1", camera, plate, 1_700_000_000_000),
        "char_confidences": None,
        "crop": None,
        "direction": None,
        "plate_format": None,
        "vehicle_type": None,
    }


def test_plates_within_the_cap_are_read() -> None:
    assert from_plate_read(read("ab-123"), TP, 5).plate == "AB123"
    assert from_plate_read(read("A" * 32), TP, 5).plate == "A" * 32
    ev = from_camera_event(camera_event("e1", "cam-1", "A" * 32, 1), TP, 5, default_confidence=0.5)
    assert ev is not None and ev.plate == "A" * 32


@pytest.mark.parametrize("plate", ["A" * 33, "A-" * 40, "A" * 1_000_000])
def test_over_long_plates_are_refused(plate: str) -> None:
    with pytest.raises(BadInputError, match="exceeds the limit"):
        from_plate_read(read(plate), TP, 5)
    with pytest.raises(BadInputError, match="exceeds the limit"):
        from_camera_event(camera_event("e1", "cam-1", plate, 1), TP, 5, default_confidence=0.5)


@pytest.mark.parametrize("camera", ["..", "", "a/b", "x" * 65])
def test_camera_ids_that_are_not_ids_are_refused(camera: str) -> None:
    with pytest.raises(BadInputError, match="camera id"):
        from_plate_read(read("AB123", camera), TP, 5)
    with pytest.raises(BadInputError, match="camera id"):
        from_camera_event(camera_event("e1", camera, "AB123", 1), TP, 5, default_confidence=0.5)
