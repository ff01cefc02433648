"""Enrichment of a closed passage: camera metadata, direction of travel, plate format and region.

Cameras come from the compacted ``anpr.cameras.v1`` topic (read in full at start, then followed).
Direction: the device's own value mapped through the camera's ``direction_map``, else the value
ingest or detect already mapped, else the plate box's growth across the passage (a growing plate
is approaching). Region: the device's country when it gives one, else the first plate format the
consensus plate fits among the camera's configured formats (``platestream.plate_formats``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from platestream import plate_formats
from platestream import zones as zone_rules
from platestream.countries import alpha2
from services.enrich.passage import Passage

DIRECTIONS = ("approaching", "leaving")


def box_direction(
    first: tuple[int, tuple[int, int, int, int]] | None,
    last: tuple[int, tuple[int, int, int, int]] | None,
    threshold: float = 0.15,
) -> str | None:
    """Approaching when the plate box grows across the passage, leaving when it shrinks."""
    if first is None or last is None or first[0] == last[0]:
        return None
    a = first[1][2] * first[1][3]
    b = last[1][2] * last[1][3]
    if a <= 0 or b <= 0:
        return None
    ratio = b / a
    if ratio >= 1.0 + threshold:
        return "approaching"
    if ratio <= 1.0 / (1.0 + threshold):
        return "leaving"
    return None


@dataclass(slots=True)
class CameraInfo:
    camera_id: str
    name: str = ""
    site: str | None = None
    zone: str | None = None
    lat: float | None = None
    lon: float | None = None
    heading: float | None = None
    direction_map: dict[str, str] = field(default_factory=dict)
    plate_formats: tuple[str, ...] = ()
    offline_after_s: int = 300
    enabled: bool = True
    # ROI/exclusion polygons (frame fractions); zones that do not parse filter nothing
    zones: zone_rules.Zones = zone_rules.NONE

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> CameraInfo:
        return cls(
            camera_id=str(rec["camera_id"]),
            name=rec.get("name") or "",
            site=rec.get("site"),
            zone=rec.get("zone"),
            lat=rec.get("lat"),
            lon=rec.get("lon"),
            heading=rec.get("heading"),
            direction_map={str(k).lower(): v for k, v in (rec.get("direction_map") or {}).items()},
            plate_formats=tuple(rec.get("plate_formats") or ()),
            offline_after_s=int(rec.get("offline_after_s") or 300),
            enabled=bool(rec.get("enabled", True)),
            zones=zone_rules.parse_lenient(rec.get("roi")),
        )


class Cameras:
    """Current camera configuration by id."""

    def __init__(self) -> None:
        self.by_id: dict[str, CameraInfo] = {}

    def apply(self, key: str, record: dict[str, Any] | None) -> None:
        if record is None:
            self.by_id.pop(key, None)
        else:
            info = CameraInfo.from_record(record)
            self.by_id[info.camera_id] = info

    def get(self, camera_id: str) -> CameraInfo | None:
        return self.by_id.get(camera_id)


@lru_cache(maxsize=64)
def _formats(names: tuple[str, ...]) -> tuple[plate_formats.PlateFormat, ...]:
    try:
        return plate_formats.formats_for(names)
    except ValueError:
        return plate_formats.formats_for(None)


@lru_cache(maxsize=64)
def _combined(
    names: tuple[str, ...],
) -> tuple[re.Pattern[str], dict[str, plate_formats.PlateFormat]]:
    """All formats of a camera in one regex, specific formats first; the group that matched names it.

    Python tries alternatives in order, so the first format (in that order) that the whole plate
    fits wins, in one C-level match instead of one per format.
    """
    formats = sorted(_formats(names), key=lambda f: f.generic)
    groups = {f"f{i}": f for i, f in enumerate(formats)}
    rx = "|".join(f"(?P<{g}>{f.regex.pattern})" for g, f in groups.items())
    return re.compile(rx), groups


# A format's region is one of the few the format catalogue names: its country code is looked up
# once (alpha2 normalises the text on every call: ~1.5 % of enrich's CPU per passage).
_region_country = lru_cache(maxsize=256)(alpha2)


@lru_cache(maxsize=65_536)
def plate_region(plate: str, names: tuple[str, ...]) -> tuple[str | None, str | None]:
    """(format name, region) of the first format ``plate`` fits among ``names`` (no region for
    a generic format such as ``ANY``)."""
    rx, groups = _combined(names)
    m = rx.fullmatch(plate)
    if m is None or m.lastgroup is None:
        return None, None
    fmt = groups[m.lastgroup]
    return fmt.name, (None if fmt.generic else fmt.region)


def direction_of(
    passage: Passage, camera: CameraInfo | None, attrs: dict[str, str] | None = None
) -> str:
    """approaching | leaving | unknown for a passage."""
    if attrs is None:
        attrs = passage.attrs
    raw = attrs.get("direction_raw")
    if raw and camera is not None:
        mapped = camera.direction_map.get(raw.lower())
        if mapped in DIRECTIONS:
            return mapped
    device = attrs.get("direction")
    if device in DIRECTIONS:
        return device
    return box_direction(passage.first_box, passage.last_box) or "unknown"


def event_record(
    passage: Passage,
    *,
    plate: str,
    confidence: float,
    camera: CameraInfo | None,
    hits: list[str],
    status: str,
    emitted_at: int,
) -> dict[str, Any]:
    """The PlateEvent record (version 0) of a closed passage."""
    best = passage.best
    attrs = passage.attrs
    names = camera.plate_formats if camera is not None else ()
    fmt, region = plate_region(plate, names)
    # A format's region names a country (BR, GB, US) or a group (EU): only a country is one.
    country = attrs.get("country") or (_region_country(region) if region else None)
    return {
        "event_id": passage.event_id,
        "version": 0,
        "camera_id": best.camera_id,
        "lane": best.lane,
        "plate": plate,
        "confidence": confidence,
        "plate_format": fmt or attrs.get("plate_format"),
        "country": country,
        # the device's state/province belongs to the device's country, not to a format's
        "region": attrs.get("region") if attrs.get("country") else None,
        "ts": best.ts,
        "first_seen": passage.first_seen,
        "last_seen": passage.last_seen,
        "read_count": passage.count,
        "variants": list(passage.variants),
        "read_ids": passage.read_ids,
        "best_read_id": best.read_id,
        "best_crop": best.crop,
        "images": best.images,
        "source": best.source,
        "direction": direction_of(passage, camera, attrs),
        "vehicle_type": attrs.get("vehicle_type"),
        "vehicle_color": attrs.get("vehicle_color"),
        "vehicle_make": attrs.get("vehicle_make"),
        "vehicle_model": attrs.get("vehicle_model"),
        "camera_name": camera.name if camera is not None and camera.name else None,
        "site": camera.site if camera is not None else None,
        "zone": camera.zone if camera is not None else None,
        "lat": camera.lat if camera is not None else None,
        "lon": camera.lon if camera is not None else None,
        "heading": camera.heading if camera is not None else None,
        "access_status": status,
        "watchlist_hits": hits,
        "correction_id": None,
        "received_at": passage.received_at,
        "emitted_at": emitted_at,
    }
