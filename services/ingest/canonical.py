"""The canonical event every parser returns, and the small value mappings the parsers share.

Parsers are pure: bytes and headers in, ``ParsedEvent`` list out, ``BadInputError`` with a reason
for anything malformed. The camera id is not theirs to decide: it comes from the device's
credential and is applied when the record is built (``ParsedEvent.to_record``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from platestream.countries import country_region
from platestream.errors import BadInputError
from platestream.ids import stable_id
from platestream.images import sha256_hex, sniff_content_type
from platestream.limits import check_plate, check_raw_plate
from platestream.plates import normalise
from services.ingest.fieldvalues import clean_text

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


# --- value mappings --------------------------------------------------------------------------


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
