"""Hostile pushes refused quickly: over-long plate text, control characters, many parts, bad camera ids."""

from __future__ import annotations

import json
import time

import pytest
from pydantic import ValidationError

from platestream.errors import BadInputError
from services.ingest.devices import AuthError, Principal
from services.ingest.formats import PARSERS, parse_any
from services.ingest.multipart import MAX_PARTS, MultipartStream, Part, encode_multipart
from services.ingest.settings import DeviceConfig
from tests.ingest import payloads


def generic(plate: object) -> bytes:
    return json.dumps({**payloads.generic_json(), "plate": plate}).encode()


def test_every_plate_within_the_cap_is_accepted() -> None:
    events = PARSERS["generic"](generic("AB-12 CDE"), "application/json")
    assert [e.plate for e in events] == ["AB12CDE"]


@pytest.mark.parametrize(
    ("plate", "why"),
    [
        ("A" * 33, "plate text of 33 characters exceeds the limit of 32"),
        ("A" * 65, "plate text of 65 characters exceeds the limit of 64"),
        ("A" * 100_000, "plate text of 100000 characters exceeds the limit of 64"),
        ("AB\x00123", "control"),
        ("AB\u200b123\ue000", "control or unassigned"),
    ],
)
def test_plate_text_over_the_cap_or_with_control_characters_is_refused(
    plate: str, why: str
) -> None:
    with pytest.raises(BadInputError, match=why):
        PARSERS["generic"](generic(plate), "application/json")


def test_the_cap_also_holds_for_payloads_without_a_route_and_for_vendor_formats() -> None:
    with pytest.raises(BadInputError, match="exceeds the limit"):
        parse_any(generic("B" * 40))
    body = json.dumps(payloads.axis_json(plate="C" * 40, with_image=False)).encode()
    with pytest.raises(BadInputError, match="exceeds the limit"):
        PARSERS["axis"](body, "application/json")


def test_forty_thousand_tiny_parts_are_refused_in_milliseconds() -> None:
    parts = [Part(headers={"Content-Disposition": 'form-data; name="x"'}) for _ in range(40_000)]
    body = encode_multipart(parts, "b")
    for source in ("generic", "hikvision", "axis", "platerecognizer", "dahua"):
        started = time.perf_counter()
        with pytest.raises(BadInputError, match=f"more than {MAX_PARTS} parts"):
            PARSERS[source](body, "multipart/form-data; boundary=b")
        assert time.perf_counter() - started < 0.5, source  # was 40 s before the fix


def test_a_stream_of_many_parts_parses_in_linear_time() -> None:
    parts = [Part(headers={"Content-Disposition": 'form-data; name="x"'}) for _ in range(40_000)]
    body = encode_multipart(parts, "b")
    timings = []
    for n in (10_000, 40_000):
        chunk = body[: len(body) * n // 40_000]
        started = time.perf_counter()
        stream = MultipartStream("b")
        got = sum(1 for _ in stream.feed(chunk))
        timings.append(time.perf_counter() - started)
        assert got >= n - 1
    # quadratic would be 16x; allow noise from a shared machine
    assert timings[1] < 8 * timings[0] + 0.2, timings


@pytest.mark.parametrize("camera", ["..", ".", "a/b", "cam 1", "x" * 65])
def test_a_device_allowed_any_camera_still_cannot_name_an_unsafe_camera_id(camera: str) -> None:
    principal = Principal(device_id="key:k1", camera_ids=frozenset(), via="api-key")
    assert principal.camera_for("cam-7", "generic") == "cam-7"
    with pytest.raises(AuthError, match="not a valid camera id") as info:
        principal.camera_for(camera, "generic")
    assert info.value.status == 400


def test_a_configured_device_camera_must_be_a_valid_id() -> None:
    with pytest.raises(ValidationError, match="camera_id"):
        DeviceConfig(camera_id="..", secret="secret-123")


def test_a_dtd_in_utf16_xml_is_refused_like_one_in_utf8() -> None:
    laughs = (
        '<?xml version="1.0" encoding="UTF-16"?>'
        '<!DOCTYPE x [<!ENTITY a "ha"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        "<EventNotificationAlert><eventType>ANPR</eventType>&b;</EventNotificationAlert>"
    )
    for encoding in ("utf-16", "utf-16-be", "utf-8"):
        with pytest.raises(BadInputError, match="DTD or entities is refused"):
            PARSERS["hikvision"](laughs.encode(encoding), "application/xml")


def test_a_registry_record_naming_an_unsafe_camera_does_not_give_it_away() -> None:
    principal = Principal(device_id="dev-9", camera_ids=frozenset({".."}), via="registry")
    with pytest.raises(AuthError, match="registered for an invalid camera id") as info:
        principal.camera_for(None, "generic")
    assert info.value.status == 403
