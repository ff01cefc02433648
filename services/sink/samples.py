"""Synthetic records of every projected type, for the sink's benchmark and tests.

Deterministic in their arguments, so a test can produce the same events twice and expect the
same rows.
"""

from __future__ import annotations

from typing import Any

from platestream.ids import stable_id

# A 1x1 JPEG-looking payload: the magic bytes are what content-type sniffing reads.
TINY_JPEG = b"\xff\xd8\xff\xe0" + b"platestream-test-image" + b"\xff\xd9"
CAMERAS = ("cam-north", "cam-south", "cam-east", "cam-west")
DIRECTIONS = ("approaching", "leaving", None)
VEHICLES = ("car", "truck", "bus", "motorcycle", None)


def plate_text(i: int) -> str:
    letters = "ABCDEFGHJKLMNPRSTUVWXYZ"
    return f"{letters[i % 23]}{letters[(i // 23) % 23]}{letters[(i // 529) % 23]}{i % 10}{letters[(i // 7) % 23]}{(i // 3) % 100:02d}"


def image(
    kind: str, *, data: bytes | None = TINY_JPEG, s3_key: str | None = None
) -> dict[str, Any]:
    return {
        "kind": kind,
        "content_type": "image/jpeg",
        "data": data,
        "s3_key": s3_key,
        "width": None,
        "height": None,
        "sha256": None,
    }


def plate_event(
    i: int,
    *,
    base_ts: int,
    version: int = 1,
    with_images: bool = False,
    emitted_at: int | None = None,
    plate: str | None = None,
) -> dict[str, Any]:
    ts = base_ts + i * 10
    camera = CAMERAS[i % len(CAMERAS)]
    return {
        "event_id": stable_id("bench-event", i, base_ts),
        "version": version,
        "camera_id": camera,
        "lane": i % 3,
        "plate": plate or plate_text(i),
        "confidence": 0.9,
        "plate_format": "BR_MERCOSUR",
        "country": "BR",
        "ts": ts,
        "first_seen": ts - 500,
        "last_seen": ts,
        "read_count": 3,
        "variants": [],
        "read_ids": [stable_id("read", i, 0)],
        "best_read_id": stable_id("read", i, 0),
        "best_crop": image("plate") if with_images else None,
        "images": [image("vehicle")] if with_images else [],
        "source": "detector",
        "direction": DIRECTIONS[i % 3],
        "vehicle_type": VEHICLES[i % 5],
        "vehicle_color": None,
        "vehicle_make": None,
        "vehicle_model": None,
        "camera_name": camera,
        "site": "depot",
        "zone": "gate",
        "lat": -23.5,
        "lon": -46.6,
        "heading": 90.0,
        "access_status": "unknown",
        "watchlist_hits": [],
        "correction_id": None,
        "received_at": ts + 20,
        "emitted_at": emitted_at if emitted_at is not None else ts + 600,
    }


def plate_read(
    i: int, *, base_ts: int, with_crop: bool = False, s3_key: str | None = None
) -> dict[str, Any]:
    ts = base_ts + i * 10
    crop = (
        image("plate", data=None, s3_key=s3_key)
        if s3_key
        else (image("plate") if with_crop else None)
    )
    return {
        "read_id": stable_id("read", i, base_ts),
        "frame_id": stable_id("frame", i, base_ts),
        "camera_id": CAMERAS[i % len(CAMERAS)],
        "ts": ts,
        "plate": plate_text(i),
        "plate_raw": plate_text(i),
        "confidence": 0.8,
        "char_confidences": [0.9, 0.8],
        "candidates": [{"plate": plate_text(i + 1), "confidence": 0.1}],
        "plate_format": None,
        "plate_box": {"x": 1, "y": 2, "w": 30, "h": 10},
        "detection_confidence": 0.95,
        "vehicle_box": None,
        "vehicle_type": "car",
        "crop": crop,
        "direction": None,
        "lane": None,
        "detector": "yolo",
        "inference_ms": 12.5,
        "received_at": ts + 5,
    }


def camera_event(i: int, *, base_ts: int, with_images: bool = False) -> dict[str, Any]:
    ts = base_ts + i * 10
    return {
        "event_id": stable_id("camera-event", i, base_ts),
        "source": "hikvision",
        "camera_id": CAMERAS[i % 4],
        "device_id": "dev-1",
        "device_event_id": str(i),
        "event_type": "ANPR",
        "ts": ts,
        "ts_local": None,
        "received_at": ts + 30,
        "plate": plate_text(i) if i % 5 else None,
        "plate_raw": None,
        "confidence": 0.7,
        "country": None,
        "direction": "approaching",
        "direction_raw": "forward",
        "lane": 1,
        "vehicle_type": "car",
        "vehicle_color": "red",
        "vehicle_make": None,
        "vehicle_model": None,
        "plate_box": None,
        "candidates": [],
        "images": [image("plate"), image("vehicle")] if with_images else [],
        "attributes": {"firmware": "5.7"},
    }


def alert(i: int, *, base_ts: int) -> dict[str, Any]:
    ts = base_ts + i * 10
    return {
        "alert_id": stable_id("alert", i, base_ts),
        "entry_id": "entry-1",
        "list_id": "stolen",
        "list_kind": "bolo",
        "pattern": plate_text(i),
        "match_type": "exact",
        "reason": "stolen",
        "priority": "high",
        "owner": "op",
        "event_id": stable_id("bench-event", i, base_ts),
        "camera_id": CAMERAS[i % 4],
        "plate": plate_text(i),
        "confidence": 0.9,
        "ts": ts,
        "early": False,
        "read_id": None,
        "site": None,
        "zone": None,
        "camera_name": None,
        "crop_s3_key": None,
        "received_at": None,
        "emitted_at": ts + 100,
    }


def alert_delivery(i: int, *, base_ts: int) -> dict[str, Any]:
    return {
        "delivery_id": stable_id("delivery", i, base_ts),
        "alert_id": stable_id("alert", i, base_ts),
        "channel": "webhook",
        "target": "http://example.invalid/hook",
        "status": "delivered",
        "attempts": 1,
        "error": None,
        "ts": base_ts + i * 10,
    }


def camera_status(i: int, *, base_ts: int) -> dict[str, Any]:
    return {
        "camera_id": CAMERAS[i % 4],
        "ts": base_ts + i * 10,
        "state": "online",
        "source": "heartbeat",
        "reason": None,
        "fps": 12.5,
        "events_per_min": 3.0,
        "last_event_ts": base_ts,
        "details": {"ip": "10.0.0.1"},
    }


def correction(i: int, *, base_ts: int) -> dict[str, Any]:
    return {
        "correction_id": stable_id("correction", i, base_ts),
        "event_id": stable_id("bench-event", i, base_ts),
        "action": "correct",
        "plate": plate_text(i + 1),
        "previous_plate": plate_text(i),
        "user": "analyst",
        "reason": "OCR error",
        "ts": base_ts + i * 10,
        "event_partition": None,
        "event_offset": None,
    }


def audit(i: int, *, base_ts: int) -> dict[str, Any]:
    return {
        "audit_id": stable_id("audit", i, base_ts),
        "ts": base_ts + i * 10,
        "actor": "analyst",
        "role": "analyst",
        "action": "search",
        "resource": "/api/v1/events",
        "query": '{"plate":"ABC"}',
        "result_count": 3,
        "status": 200,
        "client_ip": "127.0.0.1",
        "request_id": None,
    }


def anomaly(i: int, *, base_ts: int) -> dict[str, Any]:
    ts = base_ts + i * 10
    sightings = [
        {
            "event_id": stable_id("bench-event", i, base_ts, side),
            "camera_id": CAMERAS[side],
            "plate": plate_text(i),
            "ts": ts - 60_000 * (1 - side),
            "confidence": 0.95,
            "site": None if side else "north",
            "lat": 51.5,
            "lon": -0.2 + 0.4 * side,
            "variants": [plate_text(i)],
        }
        for side in (0, 1)
    ]
    return {
        "anomaly_id": stable_id("anomaly", i, base_ts),
        "kind": ("clone", "misread")[i % 2],
        "plate": plate_text(i),
        "camera_id": CAMERAS[1],
        "ts": ts,
        "distance_km": 27.7,
        "seconds_apart": 60.0,
        "speed_kmh": 1107.2,
        "limit_kmh": 250.0,
        "min_travel_s": None,
        "reason": "27.7 km in 60 s",
        "first": sightings[0],
        "second": sightings[1],
        "event_logged_at": ts + 100 if i % 3 else None,
        "emitted_at": ts + 200,
    }


# schema name -> (catalogue topic attribute, factory)
FACTORIES = {
    "plate_event": plate_event,
    "plate_read": plate_read,
    "camera_event": camera_event,
    "bolo_alert": alert,
    "alert_delivery": alert_delivery,
    "camera_status": camera_status,
    "correction": correction,
    "audit_record": audit,
    "plate_anomaly": anomaly,
}
