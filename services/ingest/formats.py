"""Which parser reads which push: by route for HTTP, by content for MQTT payloads."""

from __future__ import annotations

from collections.abc import Callable

from platestream.errors import BadInputError
from services.ingest import axis, dahua, generic, hikvision, openalpr, platerecognizer
from services.ingest.canonical import ParsedEvent, check_events
from services.ingest.jsonbody import load_json

Parser = Callable[[bytes, str], list[ParsedEvent]]


def _bounded(parse: Parser) -> Parser:
    """``parse`` whose events are refused (BadInputError) when their plate text breaks the caps."""

    def checked(body: bytes, content_type: str) -> list[ParsedEvent]:
        return check_events(parse(body, content_type))

    checked.__doc__ = parse.__doc__
    return checked


PARSERS: dict[str, Parser] = {
    name: _bounded(parse)
    for name, parse in (
        ("hikvision", hikvision.parse),
        ("dahua", dahua.parse),
        ("openalpr", openalpr.parse),
        ("platerecognizer", platerecognizer.parse),
        ("axis", axis.parse),
        ("generic", generic.parse),
    )
}


def detect(payload: bytes) -> str:
    """The format of a payload that came without a route (MQTT): XML -> hikvision; JSON by its keys."""
    head = payload.lstrip(b"\xef\xbb\xbf \t\r\n")[:64]
    if head.startswith(b"<"):
        return "hikvision"
    if head.startswith((b"Events[", b"Code=")):
        return "dahua"
    data = load_json(payload)
    if not isinstance(data, dict):
        raise BadInputError("payload is not a JSON object")
    if data.get("method") == dahua.RPC2_METHOD:
        return "dahua"
    if ("data_type" in data and "agent_uid" in data) or data.get("data_type") in (
        "alpr_group",
        "alpr_results",
        "heartbeat",
    ):
        return "openalpr"
    if "hook" in data or (isinstance(data.get("data"), dict) and "results" in data["data"]):
        return "platerecognizer"
    if any(
        k in data for k in ("plateUTF8", "plateUnicode", "plateText", "carState", "packetCounter")
    ):
        return "axis"
    if "ts" in data or "events" in data:
        return "generic"
    raise BadInputError(
        "cannot tell the payload's format (not OpenALPR, Plate Recognizer, Axis, generic or XML)"
    )


def parse_any(
    payload: bytes, content_type: str = "application/json"
) -> tuple[str, list[ParsedEvent]]:
    fmt = detect(payload)
    if fmt == "hikvision":
        content_type = "application/xml"
    elif fmt == "dahua":
        content_type = "application/json" if dahua.is_rpc2(payload) else "text/plain"
    return fmt, PARSERS[fmt](payload, content_type)
