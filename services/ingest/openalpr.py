"""OpenALPR / Rekor agent webhooks: ``alpr_group`` (one per vehicle passage), ``alpr_results``
(one per frame) and ``heartbeat`` (no event).

Plate text: ``best_plate_number`` (with ``best_plate.candidates``), not ``best_plate.plate``. In the
agent's group payload ``best_plate_number`` is the group's answer and the candidates are what it was
chosen from; the shared sample's ``best_plate.plate`` ("TEST123") disagrees with both and was
edited by its publisher (samples/camera/SOURCES.md). We keep ``best_plate.plate`` as an attribute.
"""

from __future__ import annotations

from typing import Any

from platestream.countries import country_region
from platestream.errors import BadInputError
from services.ingest.canonical import ParsedEvent, RawImage
from services.ingest.devicetime import parse_time
from services.ingest.fieldvalues import (
    as_int,
    box_from_points,
    clean_text,
    confidence01,
    map_vehicle_type,
)
from services.ingest.jsonbody import arr, b64, load_object, obj

SOURCE = "openalpr"
IGNORED_TYPES = {"heartbeat", "alpr_alert", "vehicle"}


def parse(body: bytes, content_type: str = "application/json") -> list[ParsedEvent]:
    return from_json(load_object(body))


def from_json(data: dict[str, Any]) -> list[ParsedEvent]:
    kind = data.get("data_type")
    if kind == "alpr_group":
        return [_group(data)]
    if kind == "alpr_results":
        return _results(data)
    if isinstance(kind, str) and kind in IGNORED_TYPES:
        return []
    raise BadInputError(f"unknown OpenALPR data_type {str(kind)[:40]!r}")


def _top(items: Any, what: str) -> tuple[str | None, float | None]:
    lst = arr(items, what)
    if not lst or not isinstance(lst[0], dict):
        return None, None
    return clean_text(lst[0].get("name")), confidence01(lst[0].get("confidence"))


def _candidates(items: Any) -> list[dict[str, Any]]:
    out = []
    for c in arr(items, "candidates")[:20]:
        if isinstance(c, dict) and c.get("plate"):
            out.append(
                {
                    "plate": str(c["plate"])[:32],
                    "confidence": confidence01(c.get("confidence")) or 0.0,
                }
            )
    return out


def _group(d: dict[str, Any]) -> ParsedEvent:
    best = obj(d.get("best_plate"), "best_plate")
    plate_raw = d.get("best_plate_number")
    if plate_raw is None:
        plate_raw = best.get("plate")
    if plate_raw is not None and not isinstance(plate_raw, str):
        raise BadInputError("best_plate_number must be a string")
    ts, ts_local = parse_time(
        d.get("epoch_start") if d.get("epoch_start") is not None else d.get("epoch_time")
    )
    vehicle = obj(d.get("vehicle"), "vehicle")
    color, _ = _top(vehicle.get("color"), "vehicle.color")
    make, _ = _top(vehicle.get("make"), "vehicle.make")
    make_model, _ = _top(vehicle.get("make_model"), "vehicle.make_model")
    body_type, _ = _top(vehicle.get("body_type"), "vehicle.body_type")
    orientation, _ = _top(vehicle.get("orientation"), "vehicle.orientation")
    # make_model is ranked on its own: use it only when it agrees with the top make.
    model = None
    if make_model and make and make_model.lower().startswith(make.lower() + "_"):
        model = make_model[len(make) + 1 :]
    images: list[RawImage] = []
    if best.get("plate_crop_jpeg"):
        images.append(
            RawImage.checked(
                "plate",
                b64(best["plate_crop_jpeg"], what="best_plate.plate_crop_jpeg"),
                what="plate crop",
            )
        )
    if d.get("vehicle_crop_jpeg"):
        images.append(
            RawImage.checked(
                "vehicle",
                b64(d["vehicle_crop_jpeg"], what="vehicle_crop_jpeg"),
                what="vehicle crop",
            )
        )
    cam = obj(d.get("web_server_config"), "web_server_config")
    attributes = {
        "agent_type": d.get("agent_type"),
        "agent_version": d.get("agent_version"),
        "company_id": d.get("company_id"),
        "device_camera_id": d.get("camera_id"),
        "camera_label": cam.get("camera_label"),
        "agent_label": cam.get("agent_label"),
        "best_plate.plate": best.get("plate"),
        "best_region_confidence": d.get("best_region_confidence"),
        "is_parked": d.get("is_parked"),
        "is_preview": d.get("is_preview"),
        "epoch_end": d.get("epoch_end"),
        "gps_latitude": d.get("gps_latitude"),
        "gps_longitude": d.get("gps_longitude"),
        "vehicle.orientation": orientation,
        "vehicle.body_type": body_type,
        "vehicle.make_model": make_model,
        "travel_direction": d.get("travel_direction"),
    }
    region = clean_text(d.get("best_region") or best.get("region"))
    travel = d.get("travel_direction")
    return ParsedEvent(
        source=SOURCE,
        ts=ts,
        ts_local=ts_local,
        plate_raw=plate_raw,
        device_id=clean_text(d.get("agent_uid")),
        device_event_id=clean_text(d.get("best_uuid"))
        or (",".join(map(str, arr(d.get("uuids"), "uuids")[:5])) or None),
        event_type="alpr_group",
        confidence=confidence01(d.get("best_confidence", best.get("confidence"))),
        # travel_direction is a heading in degrees: without the camera's geometry it says nothing
        # about approaching or leaving, so it stays raw.
        direction="unknown" if travel is not None else None,
        direction_raw=None if travel is None else str(travel),
        vehicle_type=map_vehicle_type(body_type),
        vehicle_color=color,
        vehicle_make=make,
        vehicle_model=model,
        plate_box=box_from_points(arr(best.get("coordinates"), "best_plate.coordinates")),
        candidates=_candidates(best.get("candidates") or d.get("candidates")),
        images=images,
        attributes={k: str(v) for k, v in attributes.items() if v is not None},
    ).with_country(region if country_region(region)[0] else d.get("country") or region)


def _results(d: dict[str, Any]) -> list[ParsedEvent]:
    ts, ts_local = parse_time(d.get("epoch_time"))
    out = []
    for i, r in enumerate(arr(d.get("results"), "results")):
        r = obj(r, "results[]")
        plate_raw = r.get("plate")
        if plate_raw is not None and not isinstance(plate_raw, str):
            raise BadInputError("results[].plate must be a string")
        out.append(
            ParsedEvent(
                source=SOURCE,
                ts=ts,
                ts_local=ts_local,
                plate_raw=plate_raw,
                device_id=clean_text(d.get("agent_uid")),
                device_event_id=f"{d.get('uuid') or d.get('epoch_time')}#{i}",
                event_type="alpr_results",
                confidence=confidence01(r.get("confidence")),
                plate_box=box_from_points(arr(r.get("coordinates"), "coordinates")),
                candidates=_candidates(r.get("candidates")),
                attributes={
                    "device_camera_id": str(d.get("camera_id")),
                    "frame": str(as_int(d.get("frame_number"))),
                },
            ).with_country(r.get("region"))
        )
    return out
