"""Times, image headers, mappings and event ids of the canonical event."""

from __future__ import annotations

import pytest

from platestream.errors import BadInputError
from services.ingest.canonical import ParsedEvent, RawImage, image_size
from services.ingest.devicetime import parse_time
from services.ingest.fieldvalues import map_direction, map_vehicle_type

from .payloads import jpeg, png


@pytest.mark.parametrize(
    "value,ms",
    [
        ("2023-08-11T13:49:00+01:00", 1691758140000),
        ("2021-09-29T05:56:13.606935Z", 1632894973606),
        ("2021-09-29 05:56:13.606935+00:00", 1632894973606),
        ("20240322 122638351+0100", 1711106798351),
        ("20240322 122638351", 1711110398351),
        ("20230811134900555", 1691761740555),
        (1609433731402, 1609433731402),
        (1609433731, 1609433731000),
        ("1609433731.5", 1609433731500),
        (1609433731402000, 1609433731402),
    ],
)
def test_parse_time(value: object, ms: int) -> None:
    assert parse_time(value)[0] == ms


@pytest.mark.parametrize(
    "value", ["", None, "tomorrow", True, float("nan"), 5, "99999999 999999999"]
)
def test_parse_time_rejects(value: object) -> None:
    with pytest.raises(BadInputError):
        parse_time(value)


def test_image_size_and_check() -> None:
    assert image_size(jpeg(123, 45), "image/jpeg") == (123, 45)
    assert image_size(png(40, 20), "image/png") == (40, 20)
    with pytest.raises(BadInputError, match="not a JPEG or PNG"):
        RawImage.checked("plate", b"BM\x00\x00bitmap")
    with pytest.raises(BadInputError, match="empty"):
        RawImage.checked("plate", b"")


def test_mappings() -> None:
    assert [
        map_vehicle_type(v)
        for v in ("Sedan", "Big Truck", "LargeBus", "vehicle", None, "Tractor-Trailer", "zeppelin")
    ] == ["car", "truck", "bus", None, None, "truck", "other"]
    assert [map_direction(v) for v in ("forward", "Reverse", "in", "out", "257.4", "", None)] == [
        "approaching",
        "leaving",
        "approaching",
        "leaving",
        "unknown",
        None,
        None,
    ]


def test_event_id_is_stable_and_content_based_without_device_id() -> None:
    a = ParsedEvent(source="generic", ts=1700000000000, plate_raw="AB1")
    b = ParsedEvent(source="generic", ts=1700000000000, plate_raw="AB1")
    c = ParsedEvent(source="generic", ts=1700000000001, plate_raw="AB1")
    assert a.event_id("cam") == b.event_id("cam") != c.event_id("cam")
    assert a.event_id("cam") != a.event_id("cam2")
    d = ParsedEvent(source="generic", ts=1, plate_raw="X", device_id="dev", device_event_id="42")
    e = ParsedEvent(source="generic", ts=2, plate_raw="Y", device_id="dev", device_event_id="42")
    assert d.event_id("cam") == e.event_id("cam")  # the device's own id wins


def test_record_shape() -> None:
    ev = ParsedEvent(
        source="hikvision",
        ts=1700000000000,
        plate_raw="unknown",
        candidates=[{"plate": "A", "confidence": 0.5}],
    )
    rec = ev.to_record(camera_id="cam", received_at=1700000000100, images=[])
    assert rec["plate"] is None and rec["plate_raw"] == "unknown" and rec["camera_id"] == "cam"
    assert rec["candidates"] == [{"plate": "A", "confidence": 0.5}]
