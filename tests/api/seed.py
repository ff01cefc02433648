"""The seed of the API tests: plate events, reads and alerts with real crop images, built once per
environment and produced through the real sink (tests/api/helpers.py runs it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from platestream.ids import stable_id


def crop_jpeg(index: int) -> bytes:
    """A plate crop rendered by the project's synthetic generator, as JPEG (a real image the
    browser can decode); deterministic per index, so the tests need no files beside the clone."""
    import random

    import cv2

    from services.detect.synth import draw_plate, plate_spec

    rng = random.Random(f"api-test-crop:{index}")
    plate = draw_plate(plate_spec(rng, "br"), rng)
    ok, buf = cv2.imencode(".jpg", plate)
    assert ok
    return bytes(buf)


def image_ref(kind: str, data: bytes) -> dict[str, Any]:
    return {
        "kind": kind,
        "content_type": "image/jpeg",
        "data": data,
        "s3_key": None,
        "width": None,
        "height": None,
        "sha256": None,
    }


@dataclass
class Seed:
    base_ts: int
    events: list[dict[str, Any]] = field(default_factory=list)
    reads: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    crops: dict[str, bytes] = field(default_factory=dict)  # event_id -> crop bytes

    def by_plate(self, plate: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["plate"] == plate]


# plate, camera, site, direction, vehicle, confidence, watchlist hits
ROWS = [
    ("ABC1234", "cam-a", "north", "approaching", "car", 0.95, []),
    ("ABC1234", "cam-b", "north", "leaving", "car", 0.93, []),
    ("ABC1234", "cam-c", "south", "approaching", "car", 0.91, []),
    ("A8C1234", "cam-a", "north", "approaching", "car", 0.88, []),
    ("ABD1234", "cam-b", "north", "leaving", "truck", 0.9, []),
    ("AB51234", "cam-c", "south", "approaching", "bus", 0.55, []),
    ("XYZ9876", "cam-a", "north", "approaching", "car", 0.97, ["stolen"]),
    ("QRS4321", "cam-b", "north", None, None, 0.45, []),
    ("LMN0001", "cam-c", "south", "leaving", "motorcycle", 0.99, []),
    ("KJH5555", "cam-a", "north", "approaching", "car", 0.62, []),
]
EXTRA = 14  # filler events, so pagination has pages


def build_seed(base_ts: int) -> Seed:
    seed = Seed(base_ts=base_ts)
    crops = [crop_jpeg(i) for i in range(1, 5)]
    rows = list(ROWS) + [
        (f"FIL{i:04d}", ("cam-a", "cam-b", "cam-c")[i % 3], "north", "leaving", "car", 0.8, [])
        for i in range(EXTRA)
    ]
    for i, (plate, cam, site, direction, vehicle, conf, hits) in enumerate(rows):
        ts = base_ts + i * 10_000
        event_id = stable_id("api-test-event", base_ts, i)
        read_id = stable_id("api-test-read", base_ts, i)
        crop = crops[i % len(crops)]
        seed.crops[event_id] = crop
        seed.events.append(
            {
                "event_id": event_id,
                "version": 0,
                "camera_id": cam,
                "lane": 1,
                "plate": plate,
                "confidence": conf,
                "plate_format": None,
                "country": "BR",
                "ts": ts,
                "first_seen": ts - 400,
                "last_seen": ts,
                "read_count": 2,
                "variants": [plate],
                "read_ids": [read_id],
                "best_read_id": read_id,
                "best_crop": image_ref("plate", crop),
                "images": [],
                "source": "detector",
                "direction": direction,
                "vehicle_type": vehicle,
                "vehicle_color": "red" if i % 2 else "white",
                "vehicle_make": None,
                "vehicle_model": None,
                "camera_name": f"Camera {cam[-1].upper()}",
                "site": site,
                "zone": "gate",
                "lat": -23.5 + i / 1000,
                "lon": -46.6,
                "heading": 90.0,
                "access_status": "unknown",
                "watchlist_hits": hits,
                "correction_id": None,
                "received_at": ts + 20,
                "emitted_at": ts + 500,
            }
        )
        seed.reads.append(
            {
                "read_id": read_id,
                "frame_id": stable_id("api-test-frame", base_ts, i),
                "camera_id": cam,
                "ts": ts - 200,
                "plate": plate,
                "plate_raw": plate,
                "confidence": conf,
                "char_confidences": [],
                "candidates": [{"plate": plate[:-1] + "0", "confidence": 0.1}],
                "plate_format": None,
                "plate_box": {"x": 10, "y": 20, "w": 120, "h": 40},
                "detection_confidence": 0.9,
                "vehicle_box": None,
                "vehicle_type": vehicle,
                "crop": None,
                "direction": direction,
                "lane": 1,
                "detector": "test",
                "inference_ms": 10.0,
                "received_at": ts - 150,
            }
        )
        if hits:
            seed.alerts.append(
                {
                    "alert_id": stable_id("api-test-alert", base_ts, i),
                    "entry_id": "entry-stolen-1",
                    "list_id": "stolen",
                    "list_kind": "bolo",
                    "pattern": plate,
                    "match_type": "exact",
                    "reason": "stolen car",
                    "priority": "high",
                    "owner": "operator",
                    "event_id": event_id,
                    "camera_id": cam,
                    "plate": plate,
                    "confidence": conf,
                    "ts": ts,
                    "early": False,
                    "read_id": read_id,
                    "site": site,
                    "zone": "gate",
                    "camera_name": None,
                    "crop_s3_key": None,
                    "received_at": ts + 20,
                    "emitted_at": ts + 100,
                }
            )
    return seed
