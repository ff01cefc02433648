"""Payload builders for the formats without a shared capture, from the vendors' documented field
names (Plate Recognizer Stream webhook, Axis License Plate Verifier push, Dahua eventManager and
snapManager streams, Hikvision multipart), plus the real samples wrapped the way devices send them."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from services.ingest.multipart import Part, encode_multipart

SAMPLES = Path(__file__).resolve().parents[2].parent / "shared" / "samples" / "camera"


def sample(name: str) -> bytes:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"shared sample {path} not present")
    return path.read_bytes()


def jpeg(width: int = 64, height: int = 32, value: int = 128) -> bytes:
    img = np.full((height, width, 3), value, np.uint8)
    cv2.putText(img, "AB", (2, height - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 2)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return buf.tobytes()


def png(width: int = 40, height: int = 20, *, noise: bool = False) -> bytes:
    img = (
        np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8)
        if noise
        else np.zeros((height, width, 3), np.uint8)
    )
    ok, buf = cv2.imencode(".png", img)
    assert ok
    return buf.tobytes()


HIK_XML = "hikvision_isapi_anpr_plate_detected.xml"
DAHUA_KV = "dahua_snapManager_attachFileProc_TrafficRetrograde_kv.txt"
OPENALPR = "openalpr_agent_webhook_alpr_group.json"


def hikvision_multipart(
    xml: bytes | None = None, *, boundary: str = "boundary"
) -> tuple[bytes, str]:
    """The envelope seen in the shared log excerpt: anpr.xml, then vehiclePicture.jpg and licensePlatePicture.jpg."""
    xml = xml if xml is not None else sample(HIK_XML)
    parts = [
        Part(
            {
                "Content-Disposition": 'form-data; name="anpr.xml"; filename="anpr.xml"',
                "Content-Type": "text/xml",
                "Content-Length": str(len(xml)),
            },
            xml,
        ),
        Part(
            {
                "Content-Disposition": 'form-data; name="vehiclePicture.jpg"; filename="vehiclePicture.jpg"',
                "Content-Type": "image/jpeg",
            },
            jpeg(320, 240, 90),
        ),
        Part(
            {
                "Content-Disposition": 'form-data; name="licensePlatePicture.jpg"; filename="licensePlatePicture.jpg"',
                "Content-Type": "image/jpeg",
            },
            jpeg(120, 30, 200),
        ),
    ]
    return encode_multipart(parts, boundary), f"multipart/form-data; boundary={boundary}"


def dahua_stream(
    kv: bytes | None = None, *, boundary: str = "myboundary", heartbeat: bool = True
) -> tuple[bytes, str]:
    """snapManager attachFileProc: the Events[0] text part, its JPEG, then a heartbeat."""
    kv = kv if kv is not None else sample(DAHUA_KV)
    parts = [
        Part({"Content-Type": "text/plain", "Content-Length": str(len(kv))}, kv),
        Part(
            {"Content-Type": "image/jpeg", "Content-Length": str(len(pic := jpeg(400, 300, 60)))},
            pic,
        ),
    ]
    if heartbeat:
        parts.append(Part({"Content-Type": "text/plain", "Content-Length": "9"}, b"Heartbeat"))
    return encode_multipart(
        parts, boundary, closing=False
    ), f"multipart/x-mixed-replace; boundary={boundary}"


def dahua_code_line(plate: str = "京A12345", utc: int = 1700000000, group: int = 77) -> bytes:
    """eventManager attach: Code=TrafficJunction;action=Pulse;index=0;data={...} (JSON over several lines)."""
    data = {
        "Class": "Traffic",
        "GroupID": group,
        "IndexInGroup": 1,
        "EventID": 516,
        "Lane": 2,
        "UTC": utc,
        "UTCMS": 120,
        "JunctionDirection": "Obverse",
        "Object": {"ObjectType": "Plate", "Text": plate, "Country": "CHN", "Confidence": 87},
        "TrafficCar": {
            "PlateNumber": plate,
            "VehicleColor": "White",
            "Lane": 2,
            "PlateColor": "Blue",
            "DrivingDirection": ["Approach", "", ""],
        },
        "Vehicle": {"Category": "Motor", "Text": "Toyota"},
    }
    return (
        "Code=TrafficJunction;action=Pulse;index=0;data="
        + json.dumps(data, ensure_ascii=False, indent=1)
    ).encode()


def platerecognizer_json(plate: str = "9jub11") -> dict:
    """Stream webhook as documented (hook + data.results[] with box, candidates, vehicle, region)."""
    return {
        "hook": {
            "target": "http://ingest/push/platerecognizer",
            "id": "camera-1",
            "event": "recognition",
            "filename": "camera-1_screenshots/21-09-29/05-56-13.606935.jpg",
        },
        "data": {
            "camera_id": "camera-1",
            "filename": "camera-1_screenshots/21-09-29/05-56-13.606935.jpg",
            "timestamp": "2021-09-29T05:56:13.606935Z",
            "timestamp_local": "2021-09-29 07:56:13.606935+02:00",
            "results": [
                {
                    "box": {"xmin": 460, "ymin": 57, "xmax": 557, "ymax": 82},
                    "plate": plate,
                    "region": {"code": "gb", "score": 0.413},
                    "score": 0.839,
                    "candidates": [
                        {"plate": plate, "score": 0.839},
                        {"plate": "sju88y", "score": 0.5},
                    ],
                    "dscore": 0.441,
                    "vehicle": {
                        "score": 0.267,
                        "type": "Big Truck",
                        "box": {"xmin": 387, "ymin": 23, "xmax": 1493, "ymax": 577},
                    },
                    "model_make": [{"make": "Volvo", "model": "FH", "score": 0.4}],
                    "color": [{"color": "white", "score": 0.672}],
                    "orientation": [{"orientation": "Front", "score": 0.623}],
                    "direction": 210,
                    "source_url": "rtsp://camera-1/stream",
                    "position_sec": 4,
                }
            ],
        },
    }


def platerecognizer_multipart(
    plate: str = "9jub11", boundary: str = "prboundary"
) -> tuple[bytes, str]:
    parts = [
        Part(
            {"Content-Disposition": 'form-data; name="json"'},
            json.dumps(platerecognizer_json(plate)).encode(),
        ),
        Part(
            {
                "Content-Disposition": 'form-data; name="upload"; filename="05-56-13.606935.jpg"',
                "Content-Type": "image/jpeg",
            },
            jpeg(640, 360, 100),
        ),
    ]
    return encode_multipart(parts, boundary), f"multipart/form-data; boundary={boundary}"


def axis_json(plate: str = "RZ3832H", state: str = "new", with_image: bool = True) -> dict:
    """License Plate Verifier push JSON (protocol field names: packetCounter, datetime, plateUTF8 ...)."""
    d = {
        "packetCounter": "1182",
        "datetime": "20240322 122638351+0100",
        "plateText": "\\u0052\\u005a\\u0033\\u0038\\u0033\\u0032\\u0048",
        "plateUnicode": plate,
        "plateUTF8": plate,
        "plateCountry": "POL",
        "plateRegion": "",
        "plateConfidence": "0.870000",
        "carState": state,
        "geotag": {"lat": 50.418114, "lon": 30.476213},
        "imageType": "plate",
        "plateImageType": "jpeg",
        "carMoveDirection": "in",
        "timeProcessing": "14",
        "plateCoordinates": [690, 440, 130, 32],
        "carID": "2345",
        "sensorProviderID": "gate-west",
        "roiID": "1",
        "camera_info": {"SerialNumber": "ACCC8EF00D42", "ProdShortName": "AXIS P1455-LE"},
    }
    if with_image:
        d["plateImage"] = base64.b64encode(jpeg(130, 32, 220)).decode()
    return d


def generic_json(plate: str = "AB12CDE", device_event_id: str = "evt-1") -> dict:
    return {
        "device_id": "edge-7",
        "device_event_id": device_event_id,
        "ts": "2025-03-01T10:15:30.250+01:00",
        "plate": plate,
        "confidence": 0.91,
        "country": "GB",
        "direction": "leaving",
        "lane": 2,
        "vehicle": {"type": "van", "color": "white", "make": "Ford", "model": "Transit"},
        "plate_box": {"x": 10, "y": 20, "w": 180, "h": 45},
        "candidates": [
            {"plate": plate, "confidence": 0.91},
            {"plate": "AB12C0E", "confidence": 0.4},
        ],
        "images": [{"kind": "plate", "data_base64": base64.b64encode(jpeg(180, 45, 230)).decode()}],
        "attributes": {"firmware": "1.2.3"},
    }
