"""The generic format of our own, for devices none of the vendor parsers covers (docs/ingest.md).

JSON body: one event object or ``{"events": [...]}``. Multipart: a part named ``event`` holding that
JSON, plus image parts named ``plate``, ``vehicle`` or ``scene`` (JPEG or PNG).
"""

from __future__ import annotations

from typing import Any

from platestream.errors import BadInputError
from services.ingest.canonical import IMAGE_KINDS, ParsedEvent, RawImage
from services.ingest.devicetime import parse_time
from services.ingest.fieldvalues import (
    as_int,
    box_xywh,
    clean_text,
    confidence01,
    map_direction,
    map_vehicle_type,
)
from services.ingest.jsonbody import arr, b64, load_json, obj
from services.ingest.multipart import parse_multipart

SOURCE = "generic"
MAX_EVENTS = 100
KNOWN_FIELDS = {
    "device_id",
    "device_event_id",
    "event_type",
    "ts",
    "plate",
    "confidence",
    "country",
    "region",
    "direction",
    "lane",
    "vehicle",
    "plate_box",
    "candidates",
    "images",
    "attributes",
}


def parse(body: bytes, content_type: str, *, source: str = SOURCE) -> list[ParsedEvent]:
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype.startswith("multipart/"):
        payload: Any = None
        images: list[RawImage] = []
        for part in parse_multipart(body, content_type):
            if part.name == "event":
                payload = load_json(part.data)
            elif part.name in IMAGE_KINDS:
                images.append(RawImage.checked(part.name, part.data, what=f"part {part.name!r}"))
            else:
                raise BadInputError(
                    f"unexpected part {part.name!r}: expected 'event', 'plate', 'vehicle' or 'scene'"
                )
        if payload is None:
            raise BadInputError("multipart push without an 'event' part")
        events = from_json(payload, source=source)
        if len(events) != 1 and images:
            raise BadInputError("image parts need exactly one event in the 'event' part")
        if images:
            events[0].images.extend(images)
        return events
    if ctype not in ("", "application/json", "text/json", "text/plain"):
        raise BadInputError(
            f"unsupported content type {ctype!r}: send application/json or multipart/form-data"
        )
    return from_json(load_json(body), source=source)


def from_json(payload: Any, *, source: str = SOURCE) -> list[ParsedEvent]:
    if isinstance(payload, dict) and "events" in payload:
        items = arr(payload["events"], "events")
    elif isinstance(payload, dict):
        items = [payload]
    else:
        raise BadInputError('expected a JSON object (one event) or {"events": [...]}')
    if not items:
        raise BadInputError("no events")
    if len(items) > MAX_EVENTS:
        raise BadInputError(f"at most {MAX_EVENTS} events per push")
    return [one(obj(item, "event"), source=source) for item in items]


def one(d: dict[str, Any], *, source: str = SOURCE) -> ParsedEvent:
    unknown = sorted(set(d) - KNOWN_FIELDS)
    if unknown:
        raise BadInputError(
            f"unknown fields {', '.join(unknown[:5])}: put vendor fields under 'attributes'"
        )
    ts, ts_local = parse_time(d.get("ts"))
    plate = d.get("plate")
    if plate is not None and not isinstance(plate, str):
        raise BadInputError("plate must be a string or null")
    vehicle = obj(d.get("vehicle"), "vehicle")
    box = obj(d.get("plate_box"), "plate_box")
    plate_box = None
    if box:
        plate_box = box_xywh([box.get(k) for k in ("x", "y", "w", "h")])
        if plate_box is None:
            raise BadInputError("plate_box needs integer x, y, w, h")
    conf = d.get("confidence")
    if conf is not None and confidence01(conf) is None:
        raise BadInputError("confidence must be a number 0..1 (or a percentage)")
    images = []
    for i, img in enumerate(arr(d.get("images"), "images")[:8]):
        img = obj(img, "images[]")
        kind = img.get("kind", "scene")
        if kind not in IMAGE_KINDS:
            raise BadInputError(f"images[{i}].kind must be one of {', '.join(IMAGE_KINDS)}")
        images.append(
            RawImage.checked(
                kind,
                b64(img.get("data_base64"), what=f"images[{i}].data_base64"),
                what=f"images[{i}]",
            )
        )
    candidates = []
    for c in arr(d.get("candidates"), "candidates")[:20]:
        c = obj(c, "candidates[]")
        if not isinstance(c.get("plate"), str):
            raise BadInputError("candidates[].plate must be a string")
        candidates.append(
            {"plate": c["plate"][:32], "confidence": confidence01(c.get("confidence")) or 0.0}
        )
    attributes = obj(d.get("attributes"), "attributes")
    direction_raw = clean_text(d.get("direction"))
    lane = d.get("lane")
    if lane is not None and as_int(lane) is None:
        raise BadInputError("lane must be an integer")
    return ParsedEvent(
        source=source,
        ts=ts,
        ts_local=ts_local,
        plate_raw=plate,
        device_id=clean_text(d.get("device_id")),
        device_event_id=clean_text(d.get("device_event_id")),
        event_type=clean_text(d.get("event_type")),
        confidence=confidence01(conf),
        direction=map_direction(direction_raw),
        direction_raw=direction_raw,
        lane=as_int(lane),
        vehicle_type=map_vehicle_type(vehicle.get("type")),
        vehicle_color=clean_text(vehicle.get("color")),
        vehicle_make=clean_text(vehicle.get("make")),
        vehicle_model=clean_text(vehicle.get("model")),
        plate_box=plate_box,
        candidates=candidates,
        images=images,
        attributes={str(k)[:128]: str(v)[:1024] for k, v in list(attributes.items())[:100]},
    ).with_country(d.get("country"), d.get("region"))
