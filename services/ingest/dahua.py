"""Dahua ITC/ANPR events: ``snapManager.cgi?action=attachFileProc`` and ``eventManager.cgi?action=attach``.

Three encodings reach us, all turned into one flat ``{path: value}`` map and read by the same
mapping: ``Events[0].TrafficCar.PlateNumber=粤MTU952`` key/value lines (snapManager),
``Code=TrafficJunction;action=Pulse;index=0;data={json}`` lines (eventManager), whose JSON is
flattened to the same paths, and the newer RPC2 JSON push ``{"method":
"client.notifyEventStream", "params": {"SID": .., "eventList": [{"Code", "Action", "Index",
"Data": {json}}]}}`` whose ``Data`` is the same JSON as eventManager's. A snapManager text part is
followed by its JPEG part, so ``DahuaAssembler`` holds an event until its picture (or the next text
part) arrives.

Time: ``RealUTC`` (epoch seconds, UTC) when the event carries it, else ``UTC`` + ``UTCMS``. Firmware
that send both write the local wall time into ``UTC`` (in a published RPC2 sample ``UTC`` is 7 h
ahead of ``RealUTC`` on a camera with ``TimeZone`` 12 = GMT+07:00); older firmware send only
``UTC``, which is taken as UTC (see docs/ingest.md).

A traffic event with an empty plate (a vehicle the camera saw but could not read, or a bicycle) is
accepted and published as a no-read event (``plate`` null), like every parser's no-read: it is a
sign of life, counted, and enrich forms no passage from it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable

from platestream.errors import BadInputError
from services.ingest.canonical import ParsedEvent, RawImage, flatten
from services.ingest.devicetime import parse_time
from services.ingest.fieldvalues import (
    as_int,
    clean_text,
    confidence01,
    map_direction,
    map_vehicle_type,
)
from services.ingest.jsonbody import arr, check_unicode, load_object, obj
from services.ingest.multipart import Part, parse_multipart

SOURCE = "dahua"
_KV = re.compile(r"^Events\[(\d+)\]\.(.+?)=(.*)$")
_CODE = re.compile(
    r"Code=([^;\r\n]*);\s*action=([^;\r\n]*)(?:;\s*index=([^;\r\n]*))?(?:;\s*data=)?", re.IGNORECASE
)
SKIPPED_ACTIONS = {"stop"}
RPC2_METHOD = "client.notifyEventStream"
MAX_RPC2_EVENTS = 64


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
            flat = flat_data(data)
        flat["Code"] = m.group(1).strip()
        flat["action"] = m.group(2).strip()
        if m.group(3) is not None:
            flat["index"] = m.group(3).strip()
        out.append(flat)
    return out


def flat_data(data: dict[str, object]) -> dict[str, str]:
    """An event's JSON ``data`` as flat paths; top-level values first, so the time and ids are
    kept however many nested fields (rider lists, seats) fill the bounded map."""
    flat: dict[str, str] = {}
    for key, value in data.items():
        if not isinstance(value, dict | list) and value is not None:
            flat[str(key)] = str(value)[:512]
    flatten("", {k: v for k, v in data.items() if isinstance(v, dict | list)}, flat, limit=400)
    return flat


def is_rpc2(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def parse_rpc2(data: bytes) -> list[dict[str, str]]:
    """The events of an RPC2 ``client.notifyEventStream`` push, each as a flat map."""
    msg = load_object(data)
    method = msg.get("method")
    if method != RPC2_METHOD:
        raise BadInputError(f"Dahua JSON push is not {RPC2_METHOD} (method {str(method)[:40]!r})")
    events = arr(obj(msg.get("params"), "params").get("eventList"), "params.eventList")
    if len(events) > MAX_RPC2_EVENTS:
        raise BadInputError(f"at most {MAX_RPC2_EVENTS} events per Dahua push")
    out = []
    for i, ev in enumerate(events):
        ev = obj(ev, f"eventList[{i}]")
        flat = flat_data(obj(ev.get("Data"), f"eventList[{i}].Data"))
        flat["Code"] = str(ev.get("Code") or flat.get("Code") or "")[:64]
        flat["action"] = str(ev.get("Action") or flat.get("Action") or "")[:32]
        if ev.get("Index") is not None:
            flat["index"] = str(ev["Index"])[:16]
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
    real_utc = as_int(f.get("RealUTC"))
    utc = f.get("UTC") or f.get("EventBaseInfo.UTC")
    if real_utc:  # true UTC; UTC is then the local wall time
        ms = as_int(f.get("UTCMS")) or 0
        ts, _ = parse_time(real_utc * 1000 + max(0, min(ms, 999)))
        ts_local = f.get("LocaleTime") or str(utc or real_utc)
    elif utc is None:
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
        direction_raw=direction_raw,
        direction=map_direction(direction_raw),
        lane=as_int(f.get("TrafficCar.Lane") or f.get("Lane")),
        vehicle_type=map_vehicle_type(vehicle_type_raw),
        vehicle_color=_unknown_none(f.get("TrafficCar.VehicleColor")),
        vehicle_make=None if make is None or make.lower() in ("unknown", "unknow") else make,
        images=list(images),
        attributes=attributes,
    ).with_country(f.get("Object.Country") or f.get("CommInfo.Country"))


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
        if ctype == "application/json" or (ctype in ("", "text/plain") and is_rpc2(part.data)):
            out = self.flush()
            self._pending = parse_rpc2(part.data)
            out.extend(self.flush())  # RPC2 events are complete: their pictures come apart
            return out
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
    elif ctype in ("", "text/plain", "application/octet-stream", "application/json"):
        kind = "application/json" if ctype == "application/json" else "text/plain"
        out.extend(asm.feed(Part(headers={"content-type": kind}, data=body)))
    else:
        raise BadInputError(f"unsupported content type {ctype!r} for a Dahua push")
    out.extend(asm.flush())
    return out
