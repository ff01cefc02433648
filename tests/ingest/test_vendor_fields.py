"""Field values a consumer can rely on, from every vendor parser (payloads built here from each
vendor's documented field names, no shared samples): the country is ISO 3166-1 alpha-2 in upper
case with the state/province in ``region``, and the time is UTC from the device's UTC field."""

from __future__ import annotations

import json

import pytest

from services.ingest import axis, dahua, formats, generic, hikvision, openalpr, platerecognizer
from services.ingest.canonical import ParsedEvent, check_events

from .payloads import axis_json, dahua_code_line, generic_json, platerecognizer_json

HIK_XML = """<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="http://www.isapi.org/ver20/XMLSchema">
<ipAddress>10.0.0.64</ipAddress><channelID>1</channelID>
<dateTime>2024-05-06T10:11:12+03:00</dateTime>
<eventType>ANPR</eventType>
<ANPR><country>{country}</country><licensePlate>AB12CDE</licensePlate><line>1</line>
<direction>forward</direction><confidenceLevel>92</confidenceLevel></ANPR>
<UUID>hik-uuid-1</UUID>
</EventNotificationAlert>"""


def openalpr_group(region: str, country: str = "us") -> dict:
    return {
        "data_type": "alpr_group",
        "agent_uid": "AGENT1",
        "epoch_start": 1609433731402,
        "best_plate_number": "A424761",
        "best_region": region,
        "country": country,
        "best_plate": {"plate": "A424761", "confidence": 93.5, "region": region},
    }


def _one(events: list[ParsedEvent]) -> ParsedEvent:
    [ev] = check_events(events)
    return ev


def _hik(country: str) -> ParsedEvent:
    return _one(hikvision.parse(HIK_XML.format(country=country).encode(), "application/xml"))


def _generic(country: str, region: str | None = None) -> ParsedEvent:
    body = {**generic_json(), "country": country, **({"region": region} if region else {})}
    return _one(generic.parse(json.dumps(body).encode(), "application/json"))


def _pr(code: str) -> ParsedEvent:
    body = platerecognizer_json()
    body["data"]["results"][0]["region"]["code"] = code
    return _one(platerecognizer.parse(json.dumps(body).encode(), "application/json"))


def _axis(country: str, region: str = "") -> ParsedEvent:
    body = {**axis_json(with_image=False), "plateCountry": country, "plateRegion": region}
    return _one(axis.parse(json.dumps(body).encode(), "application/json"))


def _dahua(country: str) -> ParsedEvent:
    text = dahua_code_line().decode().replace('"Country": "CHN"', f'"Country": "{country}"')
    return _one(dahua.parse(text.encode(), "text/plain"))


def _openalpr(region: str, country: str = "us") -> ParsedEvent:
    return _one(openalpr.parse(json.dumps(openalpr_group(region, country)).encode()))


@pytest.mark.parametrize(
    ("make", "raw", "country", "region"),
    [
        (_hik, "GB", "GB", None),
        (_generic, "gb", "GB", None),
        (_pr, "gb", "GB", None),  # Plate Recognizer: lower case
        (_pr, "us-ca", "US", "CA"),
        (_axis, "POL", "PL", None),  # Axis: alpha-3
        (_dahua, "CHN", "CN", None),  # Dahua: alpha-3
        (_openalpr, "us-in", "US", "IN"),  # OpenALPR: country-state
    ],
    ids=[
        "hikvision",
        "generic",
        "platerecognizer",
        "platerecognizer-state",
        "axis",
        "dahua",
        "openalpr",
    ],
)
def test_each_vendor_gives_alpha2_and_region(make, raw: str, country: str, region) -> None:
    ev = make(raw)
    assert (ev.country, ev.region) == (country, region)
    if raw != country:
        assert ev.attributes["country_raw"] == raw  # what the device sent is not lost
    rec = ev.to_record(camera_id="cam-1", received_at=ev.ts, images=[])
    assert (rec["country"], rec["region"]) == (country, region)


def test_region_sent_apart_axis_and_generic() -> None:
    ev = _axis("USA", "TX")
    assert (ev.country, ev.region) == ("US", "TX")
    ev = _generic("US", "us-in")
    assert (ev.country, ev.region) == ("US", "IN")


def test_openalpr_group_region_falls_back_to_its_country() -> None:
    ev = _openalpr("eu", "gb")
    assert (ev.country, ev.region) == ("GB", None)


@pytest.mark.parametrize("raw", ["5", "EU", "Atlantis", "1" * 300])
def test_unknown_country_is_null_not_guessed(raw: str) -> None:
    ev = _generic(raw) if len(raw) < 100 else _pr(raw)
    assert ev.country is None and ev.region is None


def test_hikvision_numeric_country_index_is_no_iso_code() -> None:
    ev = _hik("5")
    assert ev.country is None
    assert ev.attributes["country"] == "5" and "country_raw" not in ev.attributes


def test_check_events_normalises_a_country_a_parser_left_raw() -> None:
    ev = ParsedEvent(source="x", ts=1_700_000_000_000, country="us-in")
    [out] = check_events([ev])
    assert (out.country, out.region, out.attributes["country_raw"]) == ("US", "IN", "us-in")


# --- times: the device's UTC field wins -------------------------------------------------------


def test_axis_capture_timestamp_is_utc_for_a_camera_at_utc_plus_3() -> None:
    """The camera's local ``datetime`` carries no offset (10:00 at UTC+3); its UTC
    ``capture_timestamp`` says 07:00 UTC, and that is the event time."""
    utc_ms = 1_711_090_800_123  # 2024-03-22 07:00:00.123 UTC
    body = {
        **axis_json(with_image=False),
        "datetime": "20240322 100000123",
        "capture_timestamp": str(utc_ms),
    }
    [ev] = axis.parse(json.dumps(body).encode(), "application/json")
    assert ev.ts == utc_ms
    assert ev.ts_local == "20240322 100000123"
    # without capture_timestamp the local time would have been read as UTC: 3 h off
    del body["capture_timestamp"]
    [old] = axis.parse(json.dumps(body).encode(), "application/json")
    assert old.ts - utc_ms == 3 * 3600 * 1000


def test_axis_event_ids_do_not_change_with_the_utc_field() -> None:
    body = axis_json(with_image=False)
    [a] = axis.parse(json.dumps(body).encode(), "application/json")
    body["capture_timestamp"] = "1711106798351"
    [b] = axis.parse(json.dumps(body).encode(), "application/json")
    assert a.event_id("cam") == b.event_id("cam") and a.ts == b.ts == 1711106798351


def test_hikvision_and_platerecognizer_times_are_utc() -> None:
    assert _hik("GB").ts == 1714979472000  # 10:11:12+03:00 = 07:11:12Z
    assert _pr("gb").ts == 1632894973606  # "timestamp" (UTC), not "timestamp_local"


def test_formats_detect_still_routes_each_vendor() -> None:
    assert formats.detect(json.dumps(axis_json(with_image=False)).encode()) == "axis"
    assert formats.detect(json.dumps(openalpr_group("us-in")).encode()) == "openalpr"
