"""Dahua ITC/ANPR events: ``snapManager.cgi?action=attachFileProc`` and ``eventManager.cgi?action=attach``.

Two text encodings reach us, both turned into one flat ``{path: value}`` map and read by the same
mapping: ``Events[0].TrafficCar.PlateNumber=粤MTU952`` key/value lines (snapManager), and
``Code=TrafficJunction;action=Pulse;index=0;data={json}`` lines (eventManager), whose JSON is
flattened to the same paths. A snapManager text part is followed by its JPEG part, so
``DahuaAssembler`` holds an event until its picture (or the next text part) arrives.

Dahua's ``UTC`` field is taken as UTC; some firmware write local time there (see docs/ingest.md).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from platestream.errors import BadInputError
from services.ingest.canonical import (
    ParsedEvent,
    RawImage,
    as_int,
    clean_text,
    confidence01,
    flatten,
    map_direction,
    map_vehicle_type,
    parse_time,
)
from services.ingest.jsonbody import check_unicode
from services.ingest.multipart import Part, parse_multipart

SOURCE = "dahua"
_KV = re.compile(r"^Events\[(\d+)\]\.(.+?)=(.*)$")
_CODE = re.compile(
    r"Code=([^;\r\n]*);\s*action=([^;\r\n]*)(?:;\s*index=([^;\r\n]*))?(?:;\s*data=)?", re.IGNORECASE
)
SKIPPED_ACTIONS = {"stop"}


def is_heartbeat(data: bytes) -> bool:
    return data.strip().lower() in (b"heartbeat", b"heart beat")


def parse_text(data: bytes) -> list[dict[str, str]]:
    """The events in one text part, each as a flat ``{path: value}`` map (``Code``/``action`` included)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("gb18030", "replace")  # older Chinese firmware
    text = text.lstrip("\ufeff").strip()
    if not text or is_heartbeat(data):
        return []
    if "Events[" in text:
        return _parse_kv(text)
    if "Code=" in text:
        return _parse_code_lines(text)
    raise BadInputError(
        "Dahua text part is neither Events[N].key=value lines nor Code=...;action=... lines"
    )


def _parse_kv(text: str) -> list[dict[str, str]]:
    events: dict[int, dict[str, str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        m = _KV.match(line)
        if not m:
            continue  # Dahua interleaves other lines (e.g. "--myboundary" remnants); only Events[] count
        idx = int(m.group(1))
        if idx > 64:
            raise BadInputError("too many events in one Dahua part")
        events.setdefault(idx, {})[m.group(2)] = m.group(3).strip()
    if not events:
        raise BadInputError("no Events[N] lines in the Dahua text part")
    return [events[i] for i in sorted(events)]


def _parse_code_lines(text: str) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    matches = list(_CODE.finditer(text))
    if not matches:
        raise BadInputError("malformed Dahua Code= line")
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        rest = text[m.end() : end].strip()
        flat: dict[str, str] = {}
        if rest:
            try:
                data = json.loads(rest)
            except json.JSONDecodeError as exc:
                raise BadInputError(f"Dahua data= is not JSON: {exc.msg} at {exc.pos}") from exc
            except RecursionError as exc:
                raise BadInputError("Dahua data= nested too deeply") from exc
            check_unicode(data)
            if not isinstance(data, dict):
                raise BadInputError("Dahua data= is not a JSON object")
            flatten("", data, flat, limit=400)
        flat["Code"] = m.group(1).strip()
        flat["action"] = m.group(2).strip()
        if m.group(3) is not None:
            flat["index"] = m.group(3).strip()
        out.append(flat)
    return out


def _is_plate_event(f: dict[str, str]) -> bool:
    code = _code(f)
    if f.get("action", "").lower() in SKIPPED_ACTIONS:
        return False
    return (
        code.startswith("Traffic")
        or "TrafficCar.PlateNumber" in f
        or f.get("Object.ObjectType") == "Plate"
    )


def _code(f: dict[str, str]) -> str:
    return f.get("Code") or f.get("EventBaseInfo.Code") or f.get("TrafficCar.Event") or ""


def to_event(f: dict[str, str], images: Iterable[RawImage] = ()) -> ParsedEvent | None:
    """One canonical event from a flat Dahua event map, or None for a non-plate event (motion...)."""
    if not _is_plate_event(f):
        return None
    utc = f.get("UTC") or f.get("EventBaseInfo.UTC")
    if utc is None:
        if f.get("LocaleTime"):
            ts, ts_local = parse_time(f["LocaleTime"])
        else:
            raise BadInputError("Dahua traffic event without UTC time")
    else:
        secs = as_int(utc)
        if secs is None:
            raise BadInputError(f"Dahua UTC is not a number: {utc[:32]!r}")
        ms = as_int(f.get("UTCMS")) or 0
        ts, _ = parse_time(secs * 1000 + max(0, min(ms, 999)))
        ts_local = f.get("LocaleTime") or str(utc)
    plate_raw = f.get("TrafficCar.PlateNumber")
    if plate_raw is None:
        plate_raw = f.get("Object.Text")
    direction_raw = f.get("TrafficCar.DrivingDirection[0]") or f.get("JunctionDirection")
    vehicle_type_raw = (
        f.get("Vehicle.Category")
        or f.get("TrafficCar.VehicleType")
        or f.get("CommInfo.StandardVehicleType")
    )
    id_parts = [f[k] for k in ("GroupID", "IndexInGroup", "EventID", "UTC", "UTCMS") if f.get(k)]
    make = clean_text(f.get("Vehicle.Text"))
    conf = confidence01(f.get("Object.Confidence"))
    attributes = {
        k: v[:256]
        for k, v in f.items()
        if v
        and not k.startswith(
            (
                "Vehicle.DriverFace",
                "DetectRegion",
                "Object.MainSeat",
                "Object.SlaveSeat",
                "Vehicle.MainSeat",
                "Vehicle.SlaveSeat",
            )
        )
    }
    attributes = dict(list(attributes.items())[:150])
    return ParsedEvent(
        source=SOURCE,
        ts=ts,
        ts_local=ts_local,
        plate_raw=plate_raw,
        device_id=clean_text(f.get("TrafficCar.MachineName") or f.get("MachineName")),
        device_event_id="/".join(id_parts) or None,
        event_type=_code(f) or None,
        confidence=conf or None,  # Dahua sends 0 when the model gives no confidence
        country=clean_text(f.get("Object.Country") or f.get("CommInfo.Country")),
        direction_raw=direction_raw,
        direction=map_direction(direction_raw),
        lane=as_int(f.get("TrafficCar.Lane") or f.get("Lane")),
        vehicle_type=map_vehicle_type(vehicle_type_raw),
        vehicle_color=_unknown_none(f.get("TrafficCar.VehicleColor")),
        vehicle_make=None if make is None or make.lower() in ("unknown", "unknow") else make,
        images=list(images),
        attributes=attributes,
    )


def _unknown_none(value: str | None) -> str | None:
    v = clean_text(value)
    return None if v is None or v.lower() in ("unknown", "unknow") else v.lower()


class DahuaAssembler:
    """Turns a sequence of stream parts into events; a text event waits for the picture after it."""

    def __init__(self) -> None:
        self._pending: list[dict[str, str]] = []
        self._images: list[RawImage] = []
        self.heartbeats = 0

    def feed(self, part: Part) -> list[ParsedEvent]:
        ctype = part.content_type
        if ctype.startswith("image/") or part.data[:3] == b"\xff\xd8\xff":
            if not self._pending:
                return []  # a picture without its event (e.g. joined mid-event): nothing to attach it to
            self._images.append(RawImage.checked("scene", part.data, what="Dahua picture part"))
            return self.flush()
        if ctype not in ("", "text/plain", "text/html", "application/octet-stream", "text/xml"):
            raise BadInputError(f"unexpected part type {ctype!r} in a Dahua stream")
        if is_heartbeat(part.data):
            self.heartbeats += 1
            return self.flush()
        out = self.flush()
        events = parse_text(part.data)
        self._pending = events
        if events and "Code" in events[0]:
            out.extend(
                self.flush()
            )  # eventManager lines are complete; snapManager waits for its JPEG
        return out

    def flush(self) -> list[ParsedEvent]:
        pending, images = self._pending, self._images
        self._pending, self._images = [], []
        out: list[ParsedEvent] = []
        for f in pending:
            ev = to_event(f, images)
            if ev is not None:
                out.append(ev)
        return out


def parse(body: bytes, content_type: str) -> list[ParsedEvent]:
    """A pushed Dahua body: a multipart stream excerpt, or one text part."""
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    asm = DahuaAssembler()
    out: list[ParsedEvent] = []
    if ctype.startswith("multipart/"):
        for part in parse_multipart(body, content_type):
            out.extend(asm.feed(part))
    elif ctype in ("", "text/plain", "application/octet-stream"):
        out.extend(asm.feed(Part(headers={"content-type": "text/plain"}, data=body)))
    else:
        raise BadInputError(f"unsupported content type {ctype!r} for a Dahua push")
    out.extend(asm.flush())
    return out
