"""Vendor field values in the shape of our records: vehicle types, directions, numbers, confidences,
plate boxes and bounded text (every vendor parser under services/ingest uses these)."""

from __future__ import annotations

import re
from typing import Any

_VEHICLE_TYPES = {
    "car": "car",
    "sedan": "car",
    "suv": "car",
    "suvmpv": "car",
    "smallcar": "car",
    "hatchback": "car",
    "coupe": "car",
    "wagon": "car",
    "mpv": "car",
    "passengercar": "car",
    "minicar": "car",
    "truck": "truck",
    "bigtruck": "truck",
    "pickuptruck": "truck",
    "pickup": "truck",
    "lorry": "truck",
    "tractortrailer": "truck",
    "largetruck": "truck",
    "mediumtruck": "truck",
    "lighttruck": "truck",
    "trailer": "truck",
    "truckgarbage": "truck",
    "heavytruck": "truck",
    "bus": "bus",
    "largebus": "bus",
    "mediumbus": "bus",
    "minibus": "bus",
    "coach": "bus",
    "van": "van",
    "minivan": "van",
    "microbus": "van",
    "motorcycle": "motorcycle",
    "motorbike": "motorcycle",
    "moped": "motorcycle",
    "scooter": "motorcycle",
    "twowheelvehicle": "motorcycle",
    "nonmotor": "other",
    "bicycle": "other",
    "tricycle": "other",
}


_UNKNOWN_VALUES = {"", "unknown", "unknow", "vehicle", "none", "null", "0", "other"}


def map_vehicle_type(raw: Any) -> str | None:
    """car | truck | bus | motorcycle | van | other; None when the device did not say."""
    if raw is None:
        return None
    key = re.sub(r"[^a-z]", "", str(raw).lower())
    if key in _UNKNOWN_VALUES:
        return "other" if key == "other" else None
    if key in _VEHICLE_TYPES:
        return _VEHICLE_TYPES[key]
    for word, mapped in (
        ("truck", "truck"),
        ("bus", "bus"),
        ("van", "van"),
        ("motor", "motorcycle"),
        ("car", "car"),
    ):
        if word in key:
            return mapped
    return "other"


_APPROACHING = {
    "approach",
    "approaching",
    "forward",
    "obverse",
    "in",
    "toward",
    "towards",
    "front",
    "coming",
    "entry",
    "enter",
}


_LEAVING = {
    "leave",
    "leaving",
    "reverse",
    "back",
    "backward",
    "out",
    "away",
    "rear",
    "going",
    "exit",
}


def map_direction(raw: Any) -> str | None:
    """approaching | leaving | unknown from a device's direction word; None when absent.

    Numeric headings (degrees) say nothing about approach without the camera's geometry: they map
    to ``unknown`` and stay in ``direction_raw`` (the camera's ``direction_map`` can refine it).
    """
    if raw is None or str(raw).strip() == "":
        return None
    key = str(raw).strip().lower()
    if key in _APPROACHING:
        return "approaching"
    if key in _LEAVING:
        return "leaving"
    return "unknown"


def clean_text(value: Any, limit: int = 256) -> str | None:
    """A device string, stripped and bounded; None for empty."""
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


def as_int(value: Any) -> int | None:
    try:
        result = int(float(str(value).strip()))
    except (TypeError, ValueError, OverflowError):
        return None
    return result if -(2**31) <= result < 2**31 else None


def as_float(value: Any) -> float | None:
    try:
        result = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return result if result == result and abs(result) != float("inf") else None


def confidence01(value: Any) -> float | None:
    """A confidence as 0..1, whether the device sends 0..1 or a percentage."""
    f = as_float(value)
    if f is None or f < 0:
        return None
    if f > 1.0:
        f = f / 100.0
    return min(f, 1.0)


def box_from_points(points: list[dict[str, Any]]) -> dict[str, int] | None:
    xs = [as_int(p.get("x")) for p in points if isinstance(p, dict)]
    ys = [as_int(p.get("y")) for p in points if isinstance(p, dict)]
    xs_i = [x for x in xs if x is not None]
    ys_i = [y for y in ys if y is not None]
    if not xs_i or not ys_i:
        return None
    return {"x": min(xs_i), "y": min(ys_i), "w": max(xs_i) - min(xs_i), "h": max(ys_i) - min(ys_i)}


def box_xyxy(xmin: Any, ymin: Any, xmax: Any, ymax: Any) -> dict[str, int] | None:
    x0, y0, x1, y1 = (as_int(v) for v in (xmin, ymin, xmax, ymax))
    if x0 is None or y0 is None or x1 is None or y1 is None:
        return None
    return {"x": x0, "y": y0, "w": max(0, x1 - x0), "h": max(0, y1 - y0)}


def box_xywh(values: list[Any]) -> dict[str, int] | None:
    """A box from [left, top, width, height]; None unless all four are integers."""
    if len(values) != 4:
        return None
    x, y, w, h = (as_int(v) for v in values)
    if x is None or y is None or w is None or h is None:
        return None
    return {"x": x, "y": y, "w": w, "h": h}
