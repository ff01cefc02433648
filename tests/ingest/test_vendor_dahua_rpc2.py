"""Dahua's RPC2 JSON push (``client.notifyEventStream``): accepted by the parser and on
/push/dahua (it was a 415), with true UTC from ``RealUTC``, and with an empty plate accepted as a
no-read event. The payload follows the published RPC2 event format: ``params.eventList[]`` of
``{Action, Code, Data}`` where ``Data`` is the eventManager JSON (TrafficCar, Object, UTC, UTCMS,
RealUTC, LocaleTime, TimeZone ...)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from platestream import topics as catalogue
from platestream.errors import BadInputError
from services.ingest import dahua, formats
from services.ingest.multipart import Part, encode_multipart

from .payloads import jpeg

LOCAL_UTC = 1706625295  # "UTC" as this firmware writes it: the local wall time (UTC+7)
REAL_UTC = 1706600095  # "RealUTC": 2024-01-30 07:34:55 UTC


def traffic_junction(plate: str = "1กข1234", *, group: int = 175706653, real: bool = True) -> dict:
    data: dict[str, Any] = {
        "Action": "Pulse",
        "Class": "Traffic",
        "Code": "TrafficJunction",
        "CommInfo": {"Country": "THA", "SnapCategory": "Motor", "StandardVehicleType": "Sedan"},
        "CountInGroup": 1,
        "EventID": 516,
        "GroupID": group,
        "IndexInGroup": 1,
        "JunctionDirection": "Obverse",
        "Lane": 2,
        "LocaleTime": "2024-01-30 14:34:55",
        "Object": {
            "Action": "Appear",
            "BoundingBox": [10, 20, 110, 60],
            "Confidence": 0,
            "ObjectType": "Plate",
            "Text": plate,
        },
        "TimeZone": 12,
        "TrafficCar": {
            "DrivingDirection": ["Leave", "Car go out", "Car come in"],
            "Event": "TrafficJunction",
            "GroupID": group,
            "Lane": 2,
            "MachineName": "8M049B2PAJF3085",
            "PlateColor": "White",
            "PlateNumber": plate,
            "UTC": LOCAL_UTC,
            "VehicleColor": "Blue",
        },
        "UTC": LOCAL_UTC,
        "UTCMS": 305,
        "Vehicle": {"Category": "Sedan", "Text": "Toyota"},
    }
    if real:
        data["RealUTC"] = REAL_UTC
    return {"Action": "Pulse", "Code": "TrafficJunction", "Data": data}


def notify(*events: dict, sid: int = 513) -> bytes:
    return json.dumps(
        {
            "id": 3143,
            "method": "client.notifyEventStream",
            "params": {"SID": sid, "eventList": list(events)},
            "session": "537478f7285075076ff055201d96d1a4",
        },
        ensure_ascii=False,
    ).encode()


def test_rpc2_traffic_junction_is_a_plate_event_at_real_utc() -> None:
    [ev] = dahua.parse(notify(traffic_junction()), "application/json")
    assert ev.plate == "1กข1234"
    assert ev.ts == REAL_UTC * 1000 + 305  # not LOCAL_UTC: 7 h off
    assert ev.ts_local == "2024-01-30 14:34:55"
    assert (ev.country, ev.region) == ("TH", None)
    assert ev.direction == "leaving" and ev.lane == 2
    assert ev.device_id == "8M049B2PAJF3085" and ev.event_type == "TrafficJunction"
    assert ev.vehicle_type == "car" and ev.vehicle_color == "blue"


def test_rpc2_without_realutc_reads_utc_as_before() -> None:
    [ev] = dahua.parse(notify(traffic_junction(real=False)), "application/json")
    assert ev.ts == LOCAL_UTC * 1000 + 305


def test_rpc2_empty_plate_is_a_no_read_event_not_an_error() -> None:
    [ev] = dahua.parse(notify(traffic_junction("")), "application/json")
    assert ev.plate is None and ev.plate_raw == ""
    rec = ev.to_record(camera_id="cam-dahua", received_at=ev.ts, images=[])
    assert rec["plate"] is None


def test_rpc2_several_events_other_codes_skipped_and_same_id_on_retry() -> None:
    motion = {"Action": "Start", "Code": "VideoMotion", "Index": 0, "Data": {"UTC": REAL_UTC}}
    body = notify(traffic_junction("AB1"), motion, traffic_junction("CD2", group=9))
    events = dahua.parse(body, "application/json")
    assert [e.plate for e in events] == ["AB1", "CD2"]
    again = dahua.parse(body, "application/json")
    assert [e.event_id("c") for e in events] == [e.event_id("c") for e in again]
    assert len({e.event_id("c") for e in events}) == 2


def test_rpc2_as_text_plain_and_in_a_multipart_stream() -> None:
    body = notify(traffic_junction())
    [a] = dahua.parse(body, "text/plain")
    stream = encode_multipart(
        [
            Part({"Content-Type": "application/json"}, body),
            Part({"Content-Type": "image/jpeg"}, jpeg()),
        ],
        "myboundary",
    )
    [b] = dahua.parse(stream, "multipart/x-mixed-replace; boundary=myboundary")
    assert a.event_id("c") == b.event_id("c")


def test_rpc2_detected_without_a_route() -> None:
    fmt, [ev] = formats.parse_any(notify(traffic_junction()))
    assert fmt == "dahua" and ev.plate == "1กข1234"


def test_rpc2_big_data_keeps_the_time() -> None:
    tj = traffic_junction()
    tj["Data"] = {"NonMotor": {"RiderList": [{f"k{i}": i for i in range(50)}] * 20}, **tj["Data"]}
    [ev] = dahua.parse(notify(tj), "application/json")
    assert ev.ts == REAL_UTC * 1000 + 305


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"method": "client.notifyLogin", "params": {}}', "is not client.notifyEventStream"),
        (b'{"method": "client.notifyEventStream", "params": {"eventList": 3}}', "eventList"),
        (b'{"method": "client.notifyEventStream", "params": {"eventList": [1]}}', "eventList[0]"),
        (b"[1, 2]", "JSON object"),
        (b"{not json", "JSON"),
    ],
)
def test_rpc2_bad_bodies_are_4xx_reasons(body: bytes, reason: str) -> None:
    with pytest.raises(BadInputError, match=reason.replace("[", r"\[").replace("]", r"\]")):
        dahua.parse(body, "application/json")


def test_rpc2_event_count_is_bounded() -> None:
    with pytest.raises(BadInputError, match="at most"):
        dahua.parse(notify(*[traffic_junction()] * 65), "application/json")


@pytest.mark.integration
def test_rpc2_push_is_accepted_over_http(settings) -> None:
    from fastapi.testclient import TestClient

    from services.ingest.app import create_app
    from services.ingest.processor import ingest_context

    from .helpers import ingest_settings, read_topic

    s = ingest_settings(settings)
    with ingest_context(s) as ctx, TestClient(create_app(ctx)) as client:
        headers = {"content-type": "application/json", "x-api-key": "dahua-secret-1"}
        r = client.post("/push/dahua", content=notify(traffic_junction()), headers=headers)
        assert r.status_code == 200, r.text
        [event_id] = r.json()["event_ids"]
        empty = client.post(
            "/push/dahua", content=notify(traffic_junction("", group=7)), headers=headers
        )
        assert empty.status_code == 200, empty.text
        assert empty.json()["accepted"] == 1 and empty.json()["no_read"] == 1
        assert "no_read" not in r.json()
        metrics = client.get("/metrics").text
        assert 'platestream_ingest_no_read_events_total{source="dahua"} 1.0' in metrics
    records = read_topic(s, s.topic(catalogue.CAMERA_EVENTS.name), expect=2)
    by_id = {rec["event_id"]: rec for _, rec in records}
    rec = by_id[event_id]
    assert (rec["plate"], rec["ts"], rec["country"], rec["camera_id"]) == (
        "1กข1234",
        REAL_UTC * 1000 + 305,
        "TH",
        "cam-dahua",
    )
    assert "region" in rec
    assert [r["plate"] for r in by_id.values() if r["event_id"] != event_id] == [None]
