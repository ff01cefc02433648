"""The canonical event every parser returns, and the small value mappings the parsers share.

Parsers are pure: bytes and headers in, ``ParsedEvent`` list out, ``BadInputError`` with a reason
for anything malformed. The camera id is not theirs to decide: it comes from the device's
credential and is applied when the record is built (``ParsedEvent.to_record``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from platestream.countries import country_region
from platestream.errors import BadInputError
from platestream.ids import stable_id
from platestream.images import sha256_hex, sniff_content_type
from platestream.limits import check_plate, check_raw_plate
from platestream.plates import normalise

IMAGE_KINDS = ("plate", "vehicle", "scene", "frame")
NO_READ = {"", "unknown", "unknow", "none", "null", "n/a", "-", "----/----", "noplate", "no plate"}


@dataclass
class RawImage:
    """An image as received: its bytes, sniffed type and role."""

    kind: str
    data: bytes
    content_type: str
    width: int | None = None
    height: int | None = None

    @classmethod
    def checked(cls, kind: str, data: bytes, *, what: str = "image") -> RawImage:
        """A JPEG or PNG image, or BadInputError (the magic bytes decide, not the declared type)."""
        if not data:
            raise BadInputError(f"{what} is empty")
        ctype = sniff_content_type(data)
        if ctype is None:
            raise BadInputError(f"{what} is not a JPEG or PNG image (first bytes {data[:8].hex()})")
        width, height = image_size(data, ctype)
        return cls(kind=kind, data=data, content_type=ctype, width=width, height=height)


@dataclass
class ParsedEvent:
    """One plate read as a device reported it, before the camera id and images are settled."""

    source: str
    ts: int
    plate_raw: str | None = None
    device_id: str | None = None
    device_event_id: str | None = None
    event_type: str | None = None
    ts_local: str | None = None
    confidence: float | None = None
    country: str | None = None  # ISO 3166-1 alpha-2, upper case (``with_country``)
    region: str | None = None  # state/province code within the country (``IN`` for us-in)
    direction: str | None = None
    direction_raw: str | None = None
    lane: int | None = None
    vehicle_type: str | None = None
    vehicle_color: str | None = None
    vehicle_make: str | None = None
    vehicle_model: str | None = None
    plate_box: dict[str, int] | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    images: list[RawImage] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def plate(self) -> str | None:
        """Normalised plate text, None when the device made no read."""
        if self.plate_raw is None or self.plate_raw.strip().lower() in NO_READ:
            return None
        return normalise(self.plate_raw) or None

    def with_country(self, raw: Any, region: Any = None) -> ParsedEvent:
        """Sets ``country`` (ISO 3166-1 alpha-2) and ``region`` from the device's country text (and
        its region text, where it sends one apart; see platestream/countries.py). The device's own
        text stays in ``attributes`` (``country_raw``, ``region_raw``) when it differs from what is
        published. Returns the event."""
        self.country, self.region = country_region(raw, region)
        raw_text = clean_text(raw, 64)
        if raw_text is not None and raw_text != self.country:
            self.attributes.setdefault("country_raw", raw_text)
        region_text = clean_text(region, 64)
        if region_text is not None and region_text != self.region:
            self.attributes.setdefault("region_raw", region_text)
        return self

    def content_hash(self) -> str:
        """Stands in for the device's event id when it gives none: same content, same hash."""
        h = hashlib.sha256()
        for part in (self.event_type, self.ts, self.plate_raw, self.lane, self.direction_raw):
            h.update(str(part).encode("utf-8") + b"\x1f")
        for img in sorted(self.images, key=lambda i: i.kind):
            h.update(img.kind.encode() + hashlib.sha256(img.data).digest())
        return h.hexdigest()[:32]

    def event_id(self, camera_id: str) -> str:
        return stable_id(
            self.source, self.device_id or camera_id, self.device_event_id or self.content_hash()
        )

    def to_record(
        self, *, camera_id: str, received_at: int, images: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """The CameraEvent record (schemas/camera_event.avsc); ``images`` are ImageRef dicts."""
        return {
            "event_id": self.event_id(camera_id),
            "source": self.source,
            "camera_id": camera_id,
            "device_id": self.device_id,
            "device_event_id": self.device_event_id,
            "event_type": self.event_type,
            "ts": int(self.ts),
            "ts_local": self.ts_local,
            "received_at": int(received_at),
            "plate": self.plate,
            "plate_raw": self.plate_raw,
            "confidence": None if self.confidence is None else float(self.confidence),
            "country": self.country,
            "region": self.region,
            "direction": self.direction,
            "direction_raw": self.direction_raw,
            "lane": self.lane,
            "vehicle_type": self.vehicle_type,
            "vehicle_color": self.vehicle_color,
            "vehicle_make": self.vehicle_make,
            "vehicle_model": self.vehicle_model,
            "plate_box": self.plate_box,
            "candidates": [
                {"plate": str(c["plate"]), "confidence": float(c.get("confidence") or 0.0)}
                for c in self.candidates
                if c.get("plate")
            ],
            "images": images,
            "attributes": {str(k): str(v) for k, v in self.attributes.items() if v is not None},
        }


def check_events(events: list[ParsedEvent]) -> list[ParsedEvent]:
    """The events if their plate text is within the shared caps (platestream/limits.py), else
    BadInputError: every parser's output passes here before anything is published."""
    for i, ev in enumerate(events):
        what = "plate" if len(events) == 1 else f"event {i}: plate"
        if ev.plate_raw is not None:
            check_raw_plate(ev.plate_raw, what=what)
            plate = ev.plate
            if plate is not None:
                check_plate(plate, what=what)
        for c in ev.candidates:
            check_raw_plate(str(c.get("plate") or ""), what=f"{what} candidate")
        if ev.country is not None:
            # A parser that forgot ``with_country``: normalised here, not published as sent.
            country, region = country_region(ev.country)
            if country != ev.country:
                ev.attributes.setdefault("country_raw", ev.country[:64])
                ev.country, ev.region = country, ev.region or region
    return events


def image_size(data: bytes, content_type: str) -> tuple[int | None, int | None]:
    """Width and height from the JPEG SOF or PNG IHDR header, without decoding the image."""
    if content_type == "image/png" and len(data) >= 24:
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    if content_type == "image/jpeg":
        i = 2
        n = len(data)
        while i + 9 < n:
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                i += 2
                continue
            seg_len = int.from_bytes(data[i + 2 : i + 4], "big")
            if marker in (
                0xC0,
                0xC1,
                0xC2,
                0xC3,
                0xC5,
                0xC6,
                0xC7,
                0xC9,
                0xCA,
                0xCB,
                0xCD,
                0xCE,
                0xCF,
            ):
                h = int.from_bytes(data[i + 5 : i + 7], "big")
                w = int.from_bytes(data[i + 7 : i + 9], "big")
                return w, h
            if seg_len < 2:
                break
            i += 2 + seg_len
    return None, None


# --- times -----------------------------------------------------------------------------------

_AXIS_TIME = re.compile(r"^(\d{8})\s+(\d{6})(\d{0,3})\s*([+-]\d{4})?$")
_COMPACT_TIME = re.compile(r"^(\d{14})(\d{3})?$")


def parse_time(value: Any, *, default_tz: timezone = UTC) -> tuple[int, str]:
    """Epoch ms and the text as sent. Accepts ISO 8601 (with or without offset; naive means
    ``default_tz``), epoch seconds/ms/µs numbers, ``YYYYMMDD HHMMSSFFF[+HHMM]`` (Axis) and
    ``YYYYMMDDHHMMSS[FFF]`` (Hikvision absTime)."""
    if value is None or value == "":
        raise BadInputError("event time is missing")
    if isinstance(value, bool):
        raise BadInputError(f"event time is not a time: {value!r}")
    if isinstance(value, int | float):
        return _epoch_number(float(value)), str(value)
    text = str(value).strip()
    try:
        if re.fullmatch(r"\d+(\.\d+)?", text) and not _COMPACT_TIME.match(text):
            return _epoch_number(float(text)), text
        m = _AXIS_TIME.match(text)
        if m:
            date, hms, frac, off = m.groups()
            dt = datetime.strptime(date + hms, "%Y%m%d%H%M%S")
            dt = dt.replace(microsecond=int((frac or "0").ljust(3, "0")) * 1000)
            tz = _offset(off) if off else default_tz
            return _ms(dt.replace(tzinfo=tz)), text
        m = _COMPACT_TIME.match(text)
        if m:
            dt = datetime.strptime(m.group(1), "%Y%m%d%H%M%S").replace(
                microsecond=int(m.group(2) or 0) * 1000, tzinfo=default_tz
            )
            return _ms(dt), text
        iso = text.replace("Z", "+00:00").replace("z", "+00:00")
        if " " in iso and "T" not in iso:
            iso = iso.replace(" ", "T", 1)
        dt = datetime.fromisoformat(iso)
    except (ValueError, OverflowError) as exc:
        raise BadInputError(f"unreadable event time {text[:64]!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=default_tz)
    return _ms(dt), text


def _ms(dt: datetime) -> int:
    ms = int(dt.timestamp() * 1000)
    _check_range(ms)
    return ms


def _offset(text: str) -> timezone:
    sign = -1 if text[0] == "-" else 1
    return timezone(sign * timedelta(hours=int(text[1:3]), minutes=int(text[3:5])))


def _epoch_number(value: float) -> int:
    if value != value or value in (float("inf"), float("-inf")):  # NaN / inf
        raise BadInputError("event time is not a finite number")
    if value > 1e17:  # nanoseconds
        ms = int(value / 1e6)
    elif value > 1e14:  # microseconds
        ms = int(value / 1e3)
    elif value > 1e11:  # milliseconds
        ms = int(value)
    else:  # seconds
        ms = int(value * 1000)
    _check_range(ms)
    return ms


def _check_range(ms: int) -> None:
    # 2000-01-01 .. 2100-01-01: anything else is a device clock or parse error, not an event time.
    if not 946_684_800_000 <= ms < 4_102_444_800_000:
        raise BadInputError(f"event time {ms} ms is outside 2000..2100")


# --- value mappings --------------------------------------------------------------------------

_VEHICLE_TYPES = {
    "car": "car",
    "sedan": "car",
    "suv": "car",
    "suvmpv": "car",
    "smallcar": "car",
    "hatchback": "car",
    "coupe": "car",
    "wagon": "car",
    "mpv": "car",
    "passengercar": "car",
    "minicar": "car",
    "truck": "truck",
    "bigtruck": "truck",
    "pickuptruck": "truck",
    "pickup": "truck",
    "lorry": "truck",
    "tractortrailer": "truck",
    "largetruck": "truck",
    "mediumtruck": "truck",
    "lighttruck": "truck",
    "trailer": "truck",
    "truckgarbage": "truck",
    "heavytruck": "truck",
    "bus": "bus",
    "largebus": "bus",
    "mediumbus": "bus",
    "minibus": "bus",
    "coach": "bus",
    "van": "van",
    "minivan": "van",
    "microbus": "van",
    "motorcycle": "motorcycle",
    "motorbike": "motorcycle",
    "moped": "motorcycle",
    "scooter": "motorcycle",
    "twowheelvehicle": "motorcycle",
    "nonmotor": "other",
    "bicycle": "other",
    "tricycle": "other",
}
_UNKNOWN_VALUES = {"", "unknown", "unknow", "vehicle", "none", "null", "0", "other"}


def map_vehicle_type(raw: Any) -> str | None:
    """car | truck | bus | motorcycle | van | other; None when the device did not say."""
    if raw is None:
        return None
    key = re.sub(r"[^a-z]", "", str(raw).lower())
    if key in _UNKNOWN_VALUES:
        return "other" if key == "other" else None
    if key in _VEHICLE_TYPES:
        return _VEHICLE_TYPES[key]
    for word, mapped in (
        ("truck", "truck"),
        ("bus", "bus"),
        ("van", "van"),
        ("motor", "motorcycle"),
        ("car", "car"),
    ):
        if word in key:
            return mapped
    return "other"


_APPROACHING = {
    "approach",
    "approaching",
    "forward",
    "obverse",
    "in",
    "toward",
    "towards",
    "front",
    "coming",
    "entry",
    "enter",
}
_LEAVING = {
    "leave",
    "leaving",
    "reverse",
    "back",
    "backward",
    "out",
    "away",
    "rear",
    "going",
    "exit",
}


def map_direction(raw: Any) -> str | None:
    """approaching | leaving | unknown from a device's direction word; None when absent.

    Numeric headings (degrees) say nothing about approach without the camera's geometry: they map
    to ``unknown`` and stay in ``direction_raw`` (the camera's ``direction_map`` can refine it).
    """
    if raw is None or str(raw).strip() == "":
        return None
    key = str(raw).strip().lower()
    if key in _APPROACHING:
        return "approaching"
    if key in _LEAVING:
        return "leaving"
    return "unknown"


def clean_text(value: Any, limit: int = 256) -> str | None:
    """A device string, stripped and bounded; None for empty."""
    if value is None:
        return None
    text = str(value).strip()
    return text[:limit] or None


def as_int(value: Any) -> int | None:
    try:
        result = int(float(str(value).strip()))
    except (TypeError, ValueError, OverflowError):
        return None
    return result if -(2**31) <= result < 2**31 else None


def as_float(value: Any) -> float | None:
    try:
        result = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return result if result == result and abs(result) != float("inf") else None


def confidence01(value: Any) -> float | None:
    """A confidence as 0..1, whether the device sends 0..1 or a percentage."""
    f = as_float(value)
    if f is None or f < 0:
        return None
    if f > 1.0:
        f = f / 100.0
    return min(f, 1.0)


def box_from_points(points: list[dict[str, Any]]) -> dict[str, int] | None:
    xs = [as_int(p.get("x")) for p in points if isinstance(p, dict)]
    ys = [as_int(p.get("y")) for p in points if isinstance(p, dict)]
    xs_i = [x for x in xs if x is not None]
    ys_i = [y for y in ys if y is not None]
    if not xs_i or not ys_i:
        return None
    return {"x": min(xs_i), "y": min(ys_i), "w": max(xs_i) - min(xs_i), "h": max(ys_i) - min(ys_i)}


def box_xyxy(xmin: Any, ymin: Any, xmax: Any, ymax: Any) -> dict[str, int] | None:
    x0, y0, x1, y1 = (as_int(v) for v in (xmin, ymin, xmax, ymax))
    if x0 is None or y0 is None or x1 is None or y1 is None:
        return None
    return {"x": x0, "y": y0, "w": max(0, x1 - x0), "h": max(0, y1 - y0)}


def box_xywh(values: list[Any]) -> dict[str, int] | None:
    """A box from [left, top, width, height]; None unless all four are integers."""
    if len(values) != 4:
        return None
    x, y, w, h = (as_int(v) for v in values)
    if x is None or y is None or w is None or h is None:
        return None
    return {"x": x, "y": y, "w": w, "h": h}


def flatten(prefix: str, value: Any, out: dict[str, str], *, limit: int = 200) -> None:
    """Flatten nested vendor fields into ``attributes`` (bounded, strings only)."""
    if len(out) >= limit:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}.{k}" if prefix else str(k), v, out, limit=limit)
    elif isinstance(value, list):
        for i, v in enumerate(value[:20]):
            flatten(f"{prefix}[{i}]", v, out, limit=limit)
    elif value is not None:
        out[prefix] = str(value)[:512]


def digest(data: bytes) -> str:
    return sha256_hex(data)
