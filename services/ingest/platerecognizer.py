"""Plate Recognizer Stream webhooks: JSON ``{"hook": ..., "data": {"results": [...]}}``, or
multipart/form-data with that JSON in a ``json`` field and the frame in an ``upload`` field."""

from __future__ import annotations

from typing import Any

from platestream.errors import BadInputError
from services.ingest.canonical import ParsedEvent, RawImage
from services.ingest.devicetime import parse_time
from services.ingest.fieldvalues import (
    box_xyxy,
    clean_text,
    confidence01,
    map_direction,
    map_vehicle_type,
)
from services.ingest.jsonbody import arr, load_object, obj
from services.ingest.multipart import parse_multipart

SOURCE = "platerecognizer"


def parse(body: bytes, content_type: str) -> list[ParsedEvent]:
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype.startswith("multipart/"):
        payload: dict[str, Any] | None = None
        images: list[RawImage] = []
        for part in parse_multipart(body, content_type):
            if part.name == "json" or part.content_type == "application/json":
                payload = load_object(part.data)
            elif part.name == "upload" or part.content_type.startswith("image/") or part.filename:
                images.append(
                    RawImage.checked(
                        "scene", part.data, what=f"part {part.name or part.filename!r}"
                    )
                )
            else:
                raise BadInputError(f"unexpected part {part.name!r} in a Plate Recognizer webhook")
        if payload is None:
            raise BadInputError("Plate Recognizer multipart webhook without a 'json' part")
        return from_json(payload, images)
    return from_json(load_object(body), [])


def from_json(d: dict[str, Any], images: list[RawImage]) -> list[ParsedEvent]:
    hook = obj(d.get("hook"), "hook")
    data = obj(d.get("data"), "data")
    if not data:
        raise BadInputError("Plate Recognizer webhook without 'data'")
    event = hook.get("event") or "recognition"
    if event != "recognition":
        return []  # e.g. heartbeat or dwell notifications: nothing to publish
    ts, ts_local = parse_time(data.get("timestamp"))
    if data.get("timestamp_local"):
        ts_local = str(data["timestamp_local"])
    camera = clean_text(data.get("camera_id") or hook.get("id"))
    frame = clean_text(data.get("filename") or hook.get("filename")) or str(data.get("timestamp"))
    out = []
    results = arr(data.get("results"), "data.results")
    for i, r in enumerate(results):
        r = obj(r, "data.results[]")
        plate_raw = r.get("plate")
        if plate_raw is not None and not isinstance(plate_raw, str):
            raise BadInputError("results[].plate must be a string")
        vehicle = obj(r.get("vehicle"), "vehicle")
        region = obj(r.get("region"), "region")
        box = obj(r.get("box"), "box")
        mm = [m for m in arr(r.get("model_make"), "model_make") if isinstance(m, dict)]
        colors = [c for c in arr(r.get("color"), "color") if isinstance(c, dict)]
        orient = [o for o in arr(r.get("orientation"), "orientation") if isinstance(o, dict)]
        direction = r.get("direction")
        cands = []
        for c in arr(r.get("candidates"), "candidates")[:20]:
            if isinstance(c, dict) and c.get("plate"):
                cands.append(
                    {
                        "plate": str(c["plate"])[:32],
                        "confidence": confidence01(c.get("score")) or 0.0,
                    }
                )
        attrs = {
            "device_camera_id": camera,
            "filename": frame,
            "dscore": r.get("dscore"),
            "source_url": r.get("source_url"),
            "position_sec": r.get("position_sec"),
            "vehicle.type": vehicle.get("type"),
            "vehicle.score": vehicle.get("score"),
            "orientation": orient[0].get("orientation") if orient else None,
            "user_data": r.get("user_data"),
        }
        out.append(
            ParsedEvent(
                source=SOURCE,
                ts=ts,
                ts_local=ts_local,
                plate_raw=plate_raw,
                device_id=camera,
                device_event_id=f"{frame}#{i}",
                event_type="recognition",
                confidence=confidence01(r.get("score")),
                # Stream's direction is a heading in degrees (or ""), so it stays raw.
                direction=None if direction in (None, "") else map_direction(direction),
                direction_raw=None if direction in (None, "") else str(direction),
                vehicle_type=map_vehicle_type(vehicle.get("type")),
                vehicle_color=clean_text(colors[0].get("color")) if colors else None,
                vehicle_make=clean_text(mm[0].get("make")) if mm else None,
                vehicle_model=clean_text(mm[0].get("model")) if mm else None,
                plate_box=box_xyxy(
                    box.get("xmin"), box.get("ymin"), box.get("xmax"), box.get("ymax")
                )
                if box
                else None,
                candidates=cands,
                images=list(images) if i == 0 else [],
                attributes={k: str(v) for k, v in attrs.items() if v not in (None, "")},
            ).with_country(region.get("code"))
        )
    return out
