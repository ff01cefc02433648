"""Hikvision ISAPI ANPR alarm push: ``EventNotificationAlert`` XML, alone or in multipart/form-data
with JPEG parts (licensePlatePicture.jpg, vehiclePicture.jpg, detectionPicture.jpg).

Elements are found by local name wherever they sit (firmware moves them and changes the
namespace); ``licensePlate`` "unknown" is a passage without a read.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring

from platestream.errors import BadInputError
from services.ingest.canonical import ParsedEvent, RawImage
from services.ingest.devicetime import parse_time
from services.ingest.fieldvalues import (
    as_int,
    clean_text,
    confidence01,
    map_direction,
    map_vehicle_type,
)
from services.ingest.multipart import Part, parse_multipart

SOURCE = "hikvision"
MAX_XML_BYTES = 1024 * 1024
PICTURE_KINDS = {
    "licenseplatepicture": "plate",
    "platepicture": "plate",
    "vehiclepicture": "vehicle",
    "detectionpicture": "scene",
    "scenepicture": "scene",
    "backgroundpicture": "scene",
}
# eventType values that carry an ANPR block; other alarms (heartbeats, video loss...) are ignored.
ANPR_TYPES = {"anpr", "vehicledetection", "vehicledetect"}


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _find(root: ET.Element, name: str) -> ET.Element | None:
    """First element with this local name, at any depth and in any namespace."""
    for el in root.iter():
        if _local(el.tag) == name:
            return el
    return None


def _text(root: ET.Element | None, name: str) -> str | None:
    if root is None:
        return None
    el = _find(root, name)
    return clean_text(el.text) if el is not None else None


def parse_xml(xml: bytes) -> ET.Element:
    if len(xml) > MAX_XML_BYTES:
        raise BadInputError("EventNotificationAlert XML too large")
    if b"<!DOCTYPE" in xml[:4096] or b"<!ENTITY" in xml:
        raise BadInputError("XML with a DTD or entities is refused")
    try:
        # The byte check above misses a DTD in UTF-16 (or any non-ASCII-compatible encoding);
        # defusedxml refuses it after decoding, whatever the encoding.
        root = defused_fromstring(xml, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise BadInputError(
            f"XML with a DTD or entities is refused ({type(exc).__name__})"
        ) from exc
    except ET.ParseError as exc:
        raise BadInputError(f"malformed XML: {exc}") from exc
    except (LookupError, ValueError) as exc:  # e.g. <?xml encoding="WTF-8"?>
        raise BadInputError(f"unreadable XML: {exc}") from exc
    if _local(root.tag) != "EventNotificationAlert":
        raise BadInputError(f"expected EventNotificationAlert XML, got <{_local(root.tag)[:64]}>")
    return root


def parse(body: bytes, content_type: str) -> list[ParsedEvent]:
    """A Hikvision push (multipart or bare XML) as canonical events (0 or 1)."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if ctype.startswith("multipart/"):
        return parse_parts(parse_multipart(body, content_type))
    if ctype in ("", "text/xml", "application/xml", "text/plain") or body.lstrip()[:1] == b"<":
        return from_xml(body, {})
    raise BadInputError(f"unsupported content type {ctype!r} for a Hikvision push")


def parse_parts(parts: list[Part]) -> list[ParsedEvent]:
    xml: bytes | None = None
    pictures: dict[str, RawImage] = {}
    for part in parts:
        name = (part.filename or part.name or "").rsplit("/", 1)[-1]
        if _is_xml(part):
            if xml is not None:
                raise BadInputError("more than one XML part in a Hikvision push")
            xml = part.data
            continue
        if part.content_type.startswith("image/") or name.lower().endswith(
            (".jpg", ".jpeg", ".png")
        ):
            stem = name.rsplit(".", 1)[0]
            key = stem.lower()
            kind = PICTURE_KINDS.get(key, "scene")
            pictures[stem] = RawImage.checked(kind, part.data, what=f"part {name!r}")
            continue
        raise BadInputError(f"unexpected part {name or part.content_type!r} in a Hikvision push")
    if xml is None:
        raise BadInputError("Hikvision multipart push without an EventNotificationAlert XML part")
    return from_xml(xml, pictures)


def _is_xml(part: Part) -> bool:
    name = (part.filename or part.name).lower()
    return (
        part.content_type in ("text/xml", "application/xml")
        or name.endswith(".xml")
        or (not part.content_type.startswith("image/") and part.data.lstrip()[:1] == b"<")
    )


def from_xml(xml: bytes, pictures: dict[str, RawImage]) -> list[ParsedEvent]:
    root = parse_xml(xml)
    event_type = _text(root, "eventType") or ""
    anpr = _find(root, "ANPR")
    if anpr is None:
        if event_type.lower() in ANPR_TYPES:
            raise BadInputError(f"eventType {event_type} without an ANPR element")
        return []  # another alarm type (video loss, motion...): accepted, nothing to publish
    date_time = _text(root, "dateTime")
    ts, ts_local = parse_time(date_time)
    plate_raw = _text(anpr, "licensePlate")
    if plate_raw is None:
        plate_raw = _text(anpr, "originalLicensePlate")
    direction_raw = _text(anpr, "direction")
    attributes: dict[str, str] = {}
    for tag in (
        "country",
        "plateType",
        "plateColor",
        "vehicleListName",
        "detectDir",
        "CRIndex",
        "originalLicensePlate",
        "plateCharBelieve",
        "dangmark",
        "twoWheelVehicle",
        "threeWheelVehicle",
    ):
        value = _text(anpr, tag)
        if value is not None:
            attributes[tag] = value
    for tag in (
        "ipAddress",
        "channelName",
        "channelID",
        "activePostCount",
        "isDataRetransmission",
        "eventState",
    ):
        value = _text(root, tag)
        if value is not None:
            attributes[tag] = value
    info = _find(anpr, "vehicleInfo")
    for tag in (
        "vehicleLogoRecog",
        "vehileSubLogoRecog",
        "vehileModel",
        "colorDepth",
        "length",
        "speed",
    ):
        value = _text(info, tag)
        if value is not None:
            attributes[f"vehicleInfo.{tag}"] = value
    images: list[RawImage] = []
    names_in_xml: list[str] = []
    for pic in anpr.iter():
        if _local(pic.tag) != "pictureInfo":
            continue
        fname = _text(pic, "fileName") or ""
        names_in_xml.append(fname.rsplit(".", 1)[0])
        rect = _find(pic, "plateRect")
        if rect is not None:
            # Normalised coordinates on most firmware, not pixels: kept as an attribute.
            attributes["plateRect"] = ",".join(
                _text(rect, t) or "" for t in ("X", "Y", "width", "height")
            )
    for stem in names_in_xml + [s for s in pictures if s not in names_in_xml]:
        if stem in pictures:
            images.append(pictures.pop(stem))
    uuid = _text(root, "UUID")
    device_event_id = uuid
    if device_event_id is None:
        pid = _text(anpr, "pId")
        device_event_id = f"{date_time}/{_text(root, 'channelID')}/{pid}" if pid else None
    vehicle_type = _text(anpr, "vehicleType")
    event = ParsedEvent(
        source=SOURCE,
        ts=ts,
        ts_local=ts_local,
        plate_raw=plate_raw,
        device_id=_text(root, "macAddress") or _text(root, "ipAddress"),
        device_event_id=device_event_id,
        event_type=event_type or "ANPR",
        confidence=confidence01(_text(anpr, "confidenceLevel")),
        direction_raw=direction_raw,
        direction=map_direction(direction_raw),
        lane=as_int(_text(anpr, "line") or _text(anpr, "laneNo")),
        vehicle_type=map_vehicle_type(vehicle_type),
        vehicle_color=_color(_text(info, "color")),
        images=images,
        attributes={**attributes, **({"vehicleType": vehicle_type} if vehicle_type else {})},
    )
    # <country> is Hikvision's own numeric index on most firmware (no ISO code: left in the
    # attributes); some firmware send a code or name there, which is read.
    event.with_country(_text(anpr, "country"))
    event.attributes.pop("country_raw", None)  # already kept as attributes["country"]
    return [event]


def _color(value: str | None) -> str | None:
    return None if value is None or value.lower() in ("unknown", "") else value.lower()
