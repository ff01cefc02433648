"""AXIS License Plate Verifier (fflprapp) HTTP push: a JSON event (``packetCounter``, ``datetime``
``YYYYMMDD HHMMSSFFF``, ``plateUTF8``/``plateUnicode``/``plateText``, ``carState`` new|updated|lost,
``carMoveDirection`` in|out|unk, ``plateImage`` base64, ``plateCountry`` ISO alpha-3, and on newer
versions ``capture_timestamp``: UTC epoch ms ...), either as the body or as the JSON part
of a multipart POST whose other part is the image."""

from __future__ import annotations

import re
from typing import Any

from platestream.errors import BadInputError
from services.ingest.canonical import ParsedEvent, RawImage
from services.ingest.devicetime import parse_time
from services.ingest.fieldvalues import (
    box_xywh,
    clean_text,
    confidence01,
    map_direction,
    map_vehicle_type,
)
from services.ingest.jsonbody import arr, b64, load_object, obj
from services.ingest.multipart import parse_multipart

SOURCE = "axis"
IMAGE_KINDS = {
    "plate": "plate",
    "mmrcrop": "vehicle",
    "vehicle": "vehicle",
    "frame": "scene",
    "": "scene",
}
_U_ESCAPE = re.compile(r"\\u([0-9a-fA-F]{4})")


def parse(body: bytes, content_type: str) -> list[ParsedEvent]:
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype.startswith("multipart/"):
        payload: dict[str, Any] | None = None
        images: list[bytes] = []
        for part in parse_multipart(body, content_type):
            if part.content_type == "application/json" or (
                not part.content_type.startswith("image/") and part.data.lstrip()[:1] == b"{"
            ):
                payload = load_object(part.data)
            elif part.content_type.startswith("image/") or part.filename:
                images.append(part.data)
            else:
                raise BadInputError(f"unexpected part {part.name!r} in an Axis push")
        if payload is None:
            raise BadInputError("Axis multipart push without a JSON part")
        return [from_json(payload, images)]
    return [from_json(load_object(body), [])]


def _plate_text(d: dict[str, Any]) -> str | None:
    for key in ("plateUTF8", "plateUnicode", "plateText", "plate"):
        value = d.get(key)
        if isinstance(value, str):
            return _U_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)
        if value is not None:
            raise BadInputError(f"{key} must be a string")
    return None


def from_json(d: dict[str, Any], extra_images: list[bytes]) -> ParsedEvent:
    if not any(
        k in d for k in ("plateUTF8", "plateUnicode", "plateText", "carState", "packetCounter")
    ):
        raise BadInputError(
            "not an Axis License Plate Verifier event (no plateUTF8/plateText/carState)"
        )
    # ``datetime`` is the camera's local time (an offset only on some firmware); the newer
    # ``capture_timestamp`` is UTC epoch ms and wins when present, so a camera at UTC+3 without
    # an offset does not land 3 h off. The local text stays in ts_local.
    ts_local = clean_text(d.get("datetime"), 64)
    if d.get("capture_timestamp") not in (None, ""):
        ts, utc_text = parse_time(d["capture_timestamp"])
        ts_local = ts_local or utc_text
    else:
        ts, ts_local = parse_time(d.get("datetime"))
    kind = IMAGE_KINDS.get(str(d.get("imageType") or "").lower(), "scene")
    images: list[RawImage] = []
    if d.get("plateImage"):
        images.append(
            RawImage.checked(kind, b64(d["plateImage"], what="plateImage"), what="plateImage")
        )
    for data in extra_images:
        images.append(RawImage.checked(kind, data, what="image part"))
    camera_info = obj(d.get("camera_info"), "camera_info")
    vehicle = obj(d.get("vehicle_info"), "vehicle_info")
    coords = arr(d.get("plateCoordinates"), "plateCoordinates")
    box = box_xywh(coords)
    geotag = obj(d.get("geotag"), "geotag")
    direction_raw = clean_text(d.get("carMoveDirection"))
    car_state = clean_text(d.get("carState"))
    device_id = clean_text(camera_info.get("SerialNumber") or d.get("sensorProviderID"))
    attrs = {
        "carState": car_state,
        "carID": d.get("carID"),
        "packetCounter": d.get("packetCounter"),
        "roiID": d.get("roiID"),
        "sensorProviderID": d.get("sensorProviderID"),
        "plateRegion": d.get("plateRegion"),
        "plateList": d.get("plateList") or d.get("listName"),
        "geotag.lat": geotag.get("lat"),
        "geotag.lon": geotag.get("lon"),
        "capture_timestamp": d.get("capture_timestamp"),
    }
    return ParsedEvent(
        source=SOURCE,
        ts=ts,
        ts_local=ts_local,
        plate_raw=_plate_text(d),
        device_id=device_id,
        # One car gives new/updated/lost events: each is its own event, the same on a retry.
        device_event_id=f"{d.get('carID')}/{car_state}/{d.get('datetime')}/{d.get('packetCounter')}",
        event_type=car_state,
        confidence=confidence01(d.get("plateConfidence")),
        direction=map_direction(direction_raw)
        if direction_raw not in (None, "unk")
        else ("unknown" if direction_raw else None),
        direction_raw=direction_raw,
        vehicle_type=map_vehicle_type(vehicle.get("type")),
        vehicle_color=clean_text(vehicle.get("color")),
        vehicle_make=clean_text(vehicle.get("make") or vehicle.get("manufacturer")),
        vehicle_model=clean_text(vehicle.get("model")),
        plate_box=box,
        images=images,
        attributes={k: str(v) for k, v in attrs.items() if v not in (None, "")},
    ).with_country(d.get("plateCountry"), d.get("plateRegion"))
