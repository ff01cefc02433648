"""Parsers on the real shared samples and on fixtures built from the vendors' documented fields."""

from __future__ import annotations

import json

import pytest

from platestream.errors import BadInputError
from services.ingest import axis, dahua, formats, generic, hikvision, openalpr, platerecognizer
from services.ingest.multipart import Part, encode_multipart

from .payloads import (
    DAHUA_KV,
    HIK_XML,
    OPENALPR,
    axis_json,
    dahua_code_line,
    dahua_stream,
    generic_json,
    hikvision_multipart,
    jpeg,
    platerecognizer_json,
    platerecognizer_multipart,
    png,
    sample,
)

# --- Hikvision ---------------------------------------------------------------------------------


def test_hikvision_sample_xml_alone() -> None:
    [ev] = hikvision.parse(sample(HIK_XML), "application/xml")
    assert ev.plate == "KH35192" and ev.plate_raw == "KH35192"
    assert ev.ts == 1691758140000  # 2023-08-11T13:49:00+01:00
    assert ev.ts_local == "2023-08-11T13:49:00+01:00"
    assert ev.device_id == "bc:5e:33:62:2a:5c"
    assert ev.device_event_id == "20230811134901822007gWpiNIuI14ikdwfKR5eDCzuV45RubEmi88qaD5w0YTq"
    assert ev.confidence == 1.0
    assert (ev.direction, ev.direction_raw, ev.lane) == ("approaching", "forward", 1)
    assert ev.vehicle_color == "white"
    assert ev.attributes["plateRect"] == "544,835,40,35"
    assert ev.images == []


def test_hikvision_multipart_envelope_attaches_pictures_by_name() -> None:
    body, ctype = hikvision_multipart()
    [ev] = hikvision.parse(body, ctype)
    assert ev.plate == "KH35192"
    assert [(i.kind, i.width, i.height) for i in ev.images] == [
        ("plate", 120, 30),
        ("vehicle", 320, 240),
    ]


def test_hikvision_unknown_plate_is_no_read_and_namespace_does_not_matter() -> None:
    xml = sample(HIK_XML).replace(
        b"<licensePlate>KH35192</licensePlate>", b"<licensePlate>unknown</licensePlate>"
    )
    xml = xml.replace(
        b'xmlns="http://www.hikvision.com/ver20/XMLSchema"',
        b'xmlns="http://www.isapi.org/ver20/XMLSchema"',
    )
    [ev] = hikvision.parse(xml, "text/xml")
    assert ev.plate is None and ev.plate_raw == "unknown"


def test_hikvision_elements_found_by_name_not_position() -> None:
    xml = (
        b"<EventNotificationAlert><eventType>ANPR</eventType><ANPR><vehicleInfo><color>red</color></vehicleInfo>"
        b"<confidenceLevel>87</confidenceLevel><licensePlate>AB 123 CD</licensePlate></ANPR>"
        b"<dateTime>2024-01-02T03:04:05Z</dateTime></EventNotificationAlert>"
    )
    [ev] = hikvision.parse(xml, "application/xml")
    assert (ev.plate, ev.confidence, ev.vehicle_color, ev.ts) == (
        "AB123CD",
        0.87,
        "red",
        1704164645000,
    )
    assert ev.device_event_id is None and len(ev.content_hash()) == 32


def test_hikvision_other_alarm_is_accepted_without_event() -> None:
    xml = b"<EventNotificationAlert><eventType>videoloss</eventType><dateTime>2024-01-02T03:04:05Z</dateTime></EventNotificationAlert>"
    assert hikvision.parse(xml, "text/xml") == []


@pytest.mark.parametrize(
    "body,reason",
    [
        (b"<EventNotificationAlert><eventType>ANPR", "malformed XML"),
        (b"<Other/>", "expected EventNotificationAlert"),
        (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><EventNotificationAlert/>', "DTD"),
        (
            b"<EventNotificationAlert><eventType>ANPR</eventType></EventNotificationAlert>",
            "without an ANPR",
        ),
    ],
)
def test_hikvision_bad_xml_rejected_with_reason(body: bytes, reason: str) -> None:
    with pytest.raises(BadInputError, match=reason):
        hikvision.parse(body, "text/xml")


def test_hikvision_non_image_part_rejected() -> None:
    xml = sample(HIK_XML)
    body = encode_multipart(
        [
            Part(
                {
                    "Content-Disposition": 'form-data; name="anpr.xml"; filename="anpr.xml"',
                    "Content-Type": "text/xml",
                },
                xml,
            ),
            Part(
                {
                    "Content-Disposition": 'form-data; name="vehiclePicture.jpg"; filename="vehiclePicture.jpg"',
                    "Content-Type": "image/jpeg",
                },
                b"GIF89a-not-a-jpeg",
            ),
        ],
        "b1",
    )
    with pytest.raises(BadInputError, match="not a JPEG or PNG"):
        hikvision.parse(body, "multipart/form-data; boundary=b1")


# --- Dahua ------------------------------------------------------------------------------------


def test_dahua_kv_sample_non_latin_plate() -> None:
    [ev] = dahua.parse(sample(DAHUA_KV), "text/plain")
    assert ev.plate == "粤MTU952" and ev.plate_raw == "粤MTU952"
    assert ev.event_type == "TrafficRetrograde"
    assert ev.ts == 1623416558233
    assert (ev.lane, ev.direction, ev.direction_raw) == (1, "approaching", "Approach")
    assert (ev.vehicle_type, ev.vehicle_color, ev.country) == ("truck", "gray", "CN")
    assert ev.attributes["country_raw"] == "CHN"
    assert ev.device_id == "V1G1011A"
    assert ev.device_event_id == "1228253/1/10045/1623416558/233"
    assert ev.confidence is None  # Dahua's 0 means "not given"


def test_dahua_stream_attaches_the_jpeg_that_follows() -> None:
    body, ctype = dahua_stream()
    [ev] = dahua.parse(body, ctype)
    assert ev.plate == "粤MTU952"
    assert [(i.kind, i.width, i.height) for i in ev.images] == [("scene", 400, 300)]


def test_dahua_code_line_with_multiline_json() -> None:
    [ev] = dahua.parse(dahua_code_line(), "text/plain")
    assert (ev.plate, ev.event_type, ev.lane, ev.confidence, ev.vehicle_make) == (
        "京A12345",
        "TrafficJunction",
        2,
        0.87,
        "Toyota",
    )
    assert ev.ts == 1700000000120 and ev.direction == "approaching"


def test_dahua_assembler_heartbeats_and_motion_events() -> None:
    asm = dahua.DahuaAssembler()
    assert asm.feed(Part({"content-type": "text/plain"}, b"Heartbeat")) == []
    assert (
        asm.feed(Part({"content-type": "text/plain"}, b"Code=VideoMotion;action=Start;index=0"))
        == []
    )
    assert asm.heartbeats == 1
    kv = sample(DAHUA_KV)
    assert asm.feed(Part({"content-type": "text/plain"}, kv)) == []  # waits for its picture
    [ev] = asm.feed(Part({"content-type": "image/jpeg"}, jpeg()))
    assert ev.images and ev.plate == "粤MTU952"
    # without a picture, the next text part flushes it
    asm.feed(Part({"content-type": "text/plain"}, kv))
    [ev2] = asm.feed(Part({"content-type": "text/plain"}, b"Heartbeat"))
    assert ev2.images == [] and ev2.event_id("cam") == ev.event_id("cam")


def test_dahua_same_event_same_id() -> None:
    a = dahua.parse(sample(DAHUA_KV), "text/plain")[0]
    b = dahua.parse(sample(DAHUA_KV), "text/plain")[0]
    assert a.event_id("cam-1") == b.event_id("cam-1")
    assert a.event_id("cam-1") != dahua.parse(dahua_code_line(), "text/plain")[0].event_id("cam-1")


def test_dahua_doc_excerpt_is_truncated_and_rejected() -> None:
    with pytest.raises(BadInputError, match="without UTC"):
        dahua.parse(sample("dahua_snapManager_attachFileProc_DOC_EXCERPT.txt"), "text/plain")


@pytest.mark.parametrize(
    "body,reason",
    [
        (b"hello", "neither"),
        (b"Code=TrafficJunction;action=Pulse;index=0;data={oops", "not JSON"),
        (b"Events[0].Code=TrafficJunction\nEvents[0].UTC=abc\n", "not a number"),
    ],
)
def test_dahua_bad_text(body: bytes, reason: str) -> None:
    with pytest.raises(BadInputError, match=reason):
        dahua.parse(body, "text/plain")


# --- OpenALPR ----------------------------------------------------------------------------------


def test_openalpr_sample_with_bom() -> None:
    body = sample(OPENALPR)
    assert body.startswith(b"\xef\xbb\xbf")
    [ev] = openalpr.parse(body)
    # best_plate_number / candidates, not the edited best_plate.plate ("TEST123")
    assert ev.plate == "A424761" and ev.attributes["best_plate.plate"] == "TEST123"
    assert ev.ts == 1609433731402
    assert ev.device_id == "U8HGWA66CW58AV9Q7YB4JJ749CV7WXNQLLNIBT4N"
    assert ev.device_event_id == "U8HGWA66CW58AV9Q7YB4JJ749CV7WXNQLLNIBT4N-106232737-1609433731402"
    assert ev.confidence == pytest.approx(0.935, abs=1e-3)
    assert (ev.vehicle_make, ev.vehicle_color, ev.vehicle_type, ev.country) == (
        "kenworth",
        "white",
        "truck",
        "US",
    )
    assert ev.region == "IN" and ev.attributes["country_raw"] == "us-in"
    assert ev.vehicle_model is None and ev.attributes["vehicle.make_model"] == "iveco_daily"
    assert ev.plate_box == {"x": 270, "y": 125, "w": 102, "h": 56}
    assert ev.candidates[0]["plate"] == "A424761"
    assert [(i.kind, i.width, i.height) for i in ev.images] == [
        ("plate", 150, 75),
        ("vehicle", 224, 132),
    ]
    assert ev.direction == "unknown" and ev.direction_raw == "257.44775390625"


def test_openalpr_heartbeat_and_unknown_type() -> None:
    assert openalpr.parse(b'{"data_type": "heartbeat", "agent_uid": "x"}') == []
    with pytest.raises(BadInputError, match="data_type"):
        openalpr.parse(b'{"data_type": "nope"}')


def test_openalpr_bad_base64_image() -> None:
    d = json.loads(sample(OPENALPR).decode("utf-8-sig"))
    d["vehicle_crop_jpeg"] = "!!!notbase64"
    with pytest.raises(BadInputError, match="base64"):
        openalpr.parse(json.dumps(d).encode())


# --- Plate Recognizer ----------------------------------------------------------------------------


def test_platerecognizer_json() -> None:
    [ev] = platerecognizer.parse(json.dumps(platerecognizer_json()).encode(), "application/json")
    assert (ev.plate, ev.plate_raw, ev.confidence, ev.country) == ("9JUB11", "9jub11", 0.839, "GB")
    assert ev.ts == 1632894973606 and ev.ts_local == "2021-09-29 07:56:13.606935+02:00"
    assert ev.plate_box == {"x": 460, "y": 57, "w": 97, "h": 25}
    assert (ev.vehicle_type, ev.vehicle_make, ev.vehicle_model, ev.vehicle_color) == (
        "truck",
        "Volvo",
        "FH",
        "white",
    )
    assert ev.device_id == "camera-1" and ev.direction_raw == "210"
    assert [c["plate"] for c in ev.candidates] == ["9jub11", "sju88y"]


def test_platerecognizer_multipart_with_upload() -> None:
    body, ctype = platerecognizer_multipart()
    [ev] = platerecognizer.parse(body, ctype)
    assert [(i.kind, i.width) for i in ev.images] == [("scene", 640)]


# --- Axis ---------------------------------------------------------------------------------------


def test_axis_json() -> None:
    [ev] = axis.parse(json.dumps(axis_json()).encode(), "application/json")
    assert (ev.plate, ev.country, ev.confidence, ev.event_type) == ("RZ3832H", "PL", 0.87, "new")
    assert ev.ts == 1711106798351  # 2024-03-22 12:26:38.351 +01:00
    assert (ev.direction, ev.direction_raw) == ("approaching", "in")
    assert ev.plate_box == {"x": 690, "y": 440, "w": 130, "h": 32}
    assert ev.device_id == "ACCC8EF00D42"
    assert [(i.kind, i.width) for i in ev.images] == [("plate", 130)]


def test_axis_unicode_escapes_in_plate_text() -> None:
    d = axis_json(with_image=False)
    del d["plateUTF8"], d["plateUnicode"]
    [ev] = axis.parse(json.dumps(d).encode(), "application/json")
    assert ev.plate == "RZ3832H"


def test_axis_new_and_lost_are_distinct_events() -> None:
    a = axis.parse(json.dumps(axis_json(state="new")).encode(), "application/json")[0]
    b = axis.parse(json.dumps(axis_json(state="lost")).encode(), "application/json")[0]
    assert a.event_id("c") != b.event_id("c")


# --- generic -----------------------------------------------------------------------------------


def test_generic_json() -> None:
    [ev] = generic.parse(json.dumps(generic_json()).encode(), "application/json")
    assert (ev.plate, ev.direction, ev.lane, ev.vehicle_type, ev.ts) == (
        "AB12CDE",
        "leaving",
        2,
        "van",
        1740820530250,
    )
    assert ev.images[0].kind == "plate"


def test_generic_multipart_with_png() -> None:
    d = generic_json()
    del d["images"]
    body = encode_multipart(
        [
            Part(
                {
                    "Content-Disposition": 'form-data; name="event"',
                    "Content-Type": "application/json",
                },
                json.dumps(d).encode(),
            ),
            Part(
                {
                    "Content-Disposition": 'form-data; name="scene"; filename="s.png"',
                    "Content-Type": "image/png",
                },
                png(),
            ),
        ],
        "g",
    )
    [ev] = generic.parse(body, "multipart/form-data; boundary=g")
    assert [(i.kind, i.content_type, i.width, i.height) for i in ev.images] == [
        ("scene", "image/png", 40, 20)
    ]


@pytest.mark.parametrize(
    "patch,reason",
    [
        ({"ts": "yesterday"}, "unreadable event time"),
        ({"ts": None}, "missing"),
        ({"ts": 1}, "outside 2000"),
        ({"plate": 5}, "plate must be a string"),
        ({"lane": "left"}, "lane must be an integer"),
        ({"colour": "red"}, "unknown fields colour"),
        ({"images": [{"kind": "plate", "data_base64": "R0lGODlh"}]}, "not a JPEG or PNG"),
    ],
)
def test_generic_rejections(patch: dict, reason: str) -> None:
    d = {**generic_json(), **patch}
    with pytest.raises(BadInputError, match=reason):
        generic.parse(json.dumps(d).encode(), "application/json")


def test_generic_wrong_content_type() -> None:
    with pytest.raises(BadInputError, match="unsupported content type"):
        generic.parse(b"{}", "application/x-www-form-urlencoded")


# --- detection (MQTT) --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "payload,fmt",
    [
        (lambda: sample(OPENALPR), "openalpr"),
        (lambda: sample(HIK_XML), "hikvision"),
        (lambda: sample(DAHUA_KV), "dahua"),
        (lambda: dahua_code_line(), "dahua"),
        (lambda: json.dumps(platerecognizer_json()).encode(), "platerecognizer"),
        (lambda: json.dumps(axis_json()).encode(), "axis"),
        (lambda: json.dumps(generic_json()).encode(), "generic"),
    ],
)
def test_detect_format(payload, fmt: str) -> None:
    body = payload()
    assert formats.detect(body) == fmt
    found, events = formats.parse_any(body)
    assert found == fmt and len(events) == 1 and events[0].plate


def test_detect_rejects_unknown_json() -> None:
    with pytest.raises(BadInputError, match="cannot tell"):
        formats.detect(b'{"foo": 1}')


def test_found_by_fuzzing() -> None:
    # an XML declaration naming an unknown encoding
    with pytest.raises(BadInputError, match="unreadable XML"):
        hikvision.parse(
            b'<?xml version="1.0" encoding="WTF-8"?><EventNotificationAlert/>', "text/xml"
        )
    # a lone surrogate escape in any JSON format (would break UTF-8 encoding of ids and records)
    d = axis_json(with_image=False)
    d["packetCounter"] = "\ud800"
    with pytest.raises(BadInputError, match="lone surrogate"):
        axis.parse(json.dumps(d).encode(), "application/json")
    with pytest.raises(BadInputError, match="data_type"):
        openalpr.parse(b'{"data_type": ["heartbeat"]}')
    line = b'Code=TrafficJunction;action=Pulse;index=0;data={"UTC": 1700000000, "TrafficCar": {"PlateNumber": "\\ud800"}}'
    with pytest.raises(BadInputError, match="lone surrogate"):
        dahua.parse(line, "text/plain")
