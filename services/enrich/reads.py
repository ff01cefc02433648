"""Input records (PlateRead from detect, CameraEvent from devices) turned into dedup's Read.

Records are untrusted even from our own topics: plate text over ``MAX_PLATE_CHARS`` (or not
letters and digits) and camera ids that are not ids raise BadInputError, which the processor
dead-letters, so nothing downstream (fuzzy variants, distances, object keys) sees them.
"""

from __future__ import annotations

from typing import Any

from platestream.errors import BadInputError
from platestream.limits import (
    MAX_PLATE_CHARS,
    MAX_PLATE_RAW_CHARS,
    check_camera_id,
    check_plate,
    valid_camera_id,
)
from platestream.plates import normalise
from platestream.zones import Zones
from services.enrich.passage import Read


def _box(value: dict[str, Any] | None) -> tuple[int, int, int, int] | None:
    if not value:
        return None
    return (value["x"], value["y"], value["w"], value["h"])


def _normalised(text: str | None) -> str:
    """Normalised plate text within the caps (the raw length is checked before any work on it)."""
    if text and len(text) > MAX_PLATE_RAW_CHARS:
        raise BadInputError(
            f"plate text of {len(text)} characters exceeds the limit of {MAX_PLATE_RAW_CHARS}"
        )
    plate = normalise(text)
    return check_plate(plate) if plate else plate


def from_plate_read(rec: dict[str, Any], tp: tuple[str, int], offset: int) -> Read:
    """A detector read. Raises BadInputError for a read without plate text."""
    plate = rec["plate"]
    if not plate:
        raise BadInputError("plate read without plate text")
    if len(plate) > MAX_PLATE_CHARS or not plate.isalnum() or plate != plate.upper():
        plate = _normalised(plate)
        if not plate:
            raise BadInputError("plate read without plate text")
    if not valid_camera_id(rec["camera_id"]):
        check_camera_id(rec["camera_id"])
    box = rec["plate_box"]
    # positional in field order: this runs for every read
    return Read(
        rec["read_id"],
        rec["camera_id"],
        rec["lane"],
        rec["ts"],
        plate,
        rec["confidence"],
        "detector",
        rec["char_confidences"],
        rec["received_at"],
        (box["x"], box["y"], box["w"], box["h"]) if box else None,
        rec["crop"],
        [],
        rec["direction"],
        None,
        rec["plate_format"],
        None,
        rec["vehicle_type"],
        None,
        None,
        None,
        tp,
        offset,
    )


def from_camera_event(
    rec: dict[str, Any], tp: tuple[str, int], offset: int, *, default_confidence: float
) -> Read | None:
    """A device read; None for a no-read event (the device saw a vehicle but no plate)."""
    plate = _normalised(rec.get("plate"))
    if not plate:
        return None
    check_camera_id(rec["camera_id"])
    conf = rec.get("confidence")
    crop = None
    images = []
    for img in rec.get("images") or ():
        if crop is None and img.get("kind") == "plate":
            crop = img
        else:
            images.append(img)
    return Read(
        read_id=rec["event_id"],
        camera_id=rec["camera_id"],
        lane=rec.get("lane"),
        ts=rec["ts"],
        plate=plate,
        confidence=float(conf) if conf is not None else default_confidence,
        source=rec.get("source") or "device",
        received_at=rec.get("received_at"),
        box=_box(rec.get("plate_box")),
        crop=crop,
        images=images,
        direction=rec.get("direction"),
        direction_raw=rec.get("direction_raw"),
        country=rec.get("country"),
        region=rec.get("region"),
        vehicle_type=rec.get("vehicle_type"),
        vehicle_color=rec.get("vehicle_color"),
        vehicle_make=rec.get("vehicle_make"),
        vehicle_model=rec.get("vehicle_model"),
        tp=tp,
        offset=offset,
    )


def device_zone_verdict(rec: dict[str, Any], zones: Zones) -> str | None:
    """Whether a device event's plate box lies outside its camera's zones: ``outside-roi`` or
    ``excluded``, else None (also when the event has no box or no image size to place it in).

    Devices give the box in pixels of the image they send: the largest non-plate image with a size.
    """
    box = rec.get("plate_box")
    if zones.empty or not box:
        return None
    sizes = [
        (int(img["width"]), int(img["height"]))
        for img in rec.get("images") or ()
        if img.get("kind") != "plate" and img.get("width") and img.get("height")
    ]
    if not sizes:
        return None
    width, height = max(sizes, key=lambda s: s[0] * s[1])
    return zones.box_verdict(box, width, height)
