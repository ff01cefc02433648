"""Cloned and misread plates: one plate at two cameras faster than a vehicle can travel.

Pure logic, no Kafka: the processor feeds sightings (passages with the camera's position) to
``CloneDetector.check``, which keeps the last few sightings per plate and answers the impossible
pairs. Sightings are grouped under the plate with every OCR-confusable pair folded
(``platestream.plates.fold``), so one lookup finds the plate's own sightings and those of its
confusable siblings (ABC1234 and A8C1234); only sightings of the very same text are checked for
speed, the siblings serve as evidence that a conflict is a misread rather than a clone.

False-positive controls, in the order they apply:
- reads below ``min_confidence`` are neither checked nor remembered;
- two cameras of one site, or closer than ``min_distance_km``, are never compared;
- ``skew_ms`` is added to the time apart (camera clocks disagree), so the speed is a lower bound;
- a pair in the travel-time table is judged by its shortest travel time instead of the speed;
- a conflict is called a misread, not a clone, when either sighting is less confident than
  ``clone_confidence``, when a passage's own reads also gave another text for the plate, or
  when a confusable sibling of the plate was seen, at a possible speed, near either sighting within
  ``sibling_window_ms`` (the vehicle there was probably the sibling).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Literal

from platestream.plates import fold

EARTH_RADIUS_KM = 6371.0
HOUR_MS = 3_600_000


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


@dataclass(slots=True, frozen=True)
class Sighting:
    """One passage of a plate past a camera with a known position."""

    event_id: str
    camera_id: str
    plate: str
    ts: int
    confidence: float
    lat: float
    lon: float
    site: str | None = None
    variants: tuple[str, ...] = ()
    received_at: int | None = None


@dataclass(frozen=True)
class CloneConfig:
    max_speed_kmh: float = 250.0
    skew_ms: int = 30_000
    min_distance_km: float = 1.0
    min_confidence: float = 0.6
    clone_confidence: float = 0.85
    window_ms: int = 6 * HOUR_MS
    sibling_window_ms: int = 600_000
    per_plate: int = 8
    max_plates: int = 1_000_000
    # (camera a, camera b) -> shortest travel time in seconds; looked up both ways
    travel_s: dict[tuple[str, str], float] = field(default_factory=dict)


Kind = Literal["clone", "misread"]


@dataclass(frozen=True)
class Finding:
    kind: Kind
    first: Sighting
    second: Sighting
    distance_km: float
    seconds_apart: float
    speed_kmh: float | None
    min_travel_s: float | None
    reason: str


@dataclass(frozen=True)
class Verdict:
    """Whether two sightings of one vehicle are possible, with the figures that decided it."""

    impossible: bool
    distance_km: float
    seconds_apart: float
    speed_kmh: float | None
    min_travel_s: float | None


class CloneDetector:
    """Keeps the last sightings per folded plate (LRU over plates, TTL per sighting)."""

    def __init__(self, config: CloneConfig) -> None:
        self.config = config
        self._by_key: OrderedDict[str, list[Sighting]] = OrderedDict()
        self.evicted = 0
        self.ignored = 0

    def __len__(self) -> int:
        return len(self._by_key)

    def verdict(self, a: Sighting, b: Sighting) -> Verdict | None:
        """The travel check of two sightings, or None when the pair is never compared."""
        c = self.config
        if a.camera_id == b.camera_id or (a.site is not None and a.site == b.site):
            return None
        dist = haversine_km(a.lat, a.lon, b.lat, b.lon)
        apart_ms = abs(b.ts - a.ts)
        min_travel = c.travel_s.get((a.camera_id, b.camera_id))
        if min_travel is None:
            min_travel = c.travel_s.get((b.camera_id, a.camera_id))
        allowed_ms = apart_ms + c.skew_ms
        speed = dist / (allowed_ms / HOUR_MS) if allowed_ms > 0 else None
        if min_travel is not None:
            impossible = allowed_ms < min_travel * 1000
        elif dist < c.min_distance_km:
            return None
        else:
            impossible = speed is None or speed > c.max_speed_kmh
        return Verdict(impossible, dist, apart_ms / 1000, speed, min_travel)

    def check(self, s: Sighting) -> list[Finding]:
        """Remember ``s`` and return its impossible pairs with earlier-remembered sightings."""
        c = self.config
        if s.confidence < c.min_confidence:
            self.ignored += 1
            return []
        key = fold(s.plate)
        kept = self._by_key.get(key)
        if kept is None:
            kept = self._by_key[key] = []
            if len(self._by_key) > c.max_plates:
                self._by_key.popitem(last=False)
                self.evicted += 1
        else:
            self._by_key.move_to_end(key)
        horizon = s.ts - c.window_ms
        if kept and kept[0].ts < horizon:
            kept[:] = [k for k in kept if k.ts >= horizon]
        findings = []
        for prior in kept:
            if prior.event_id == s.event_id:
                return []  # the same passage again (a redelivery): nothing new
            if prior.plate != s.plate:
                continue
            v = self.verdict(prior, s)
            if v is None or not v.impossible:
                continue
            first, second = (prior, s) if prior.ts <= s.ts else (s, prior)
            kind, why = self._classify(first, second, kept)
            findings.append(
                Finding(
                    kind,
                    first,
                    second,
                    round(v.distance_km, 3),
                    v.seconds_apart,
                    None if v.speed_kmh is None else round(v.speed_kmh, 1),
                    v.min_travel_s,
                    f"{_impossible_text(v, c)}; {why}",
                )
            )
        kept.append(s)
        if len(kept) > c.per_plate:
            del kept[0]
        return findings

    def _classify(
        self, first: Sighting, second: Sighting, kept: list[Sighting]
    ) -> tuple[Kind, str]:
        c = self.config
        for x in (first, second):
            if x.confidence < c.clone_confidence:
                return (
                    "misread",
                    f"misread: {x.camera_id} read it with confidence {x.confidence:.2f}"
                    f" < {c.clone_confidence:.2f}",
                )
            for text in x.variants:
                if text != x.plate:
                    return (
                        "misread",
                        f"misread: the passage at {x.camera_id} was also read as {text}",
                    )
        for sib in kept:
            if sib.plate == first.plate:
                continue
            for x in (first, second):
                if abs(sib.ts - x.ts) > c.sibling_window_ms:
                    continue
                v = self.verdict(sib, x)
                if v is None or not v.impossible:
                    return (
                        "misread",
                        f"misread: {sib.plate} was seen at {sib.camera_id}"
                        f" {abs(sib.ts - x.ts) / 1000:.0f} s from the sighting at {x.camera_id}",
                    )
        return "clone", "clone: both reads confident and no confusable plate explains either"

    def expire(self, now_ts: int) -> int:
        """Forget plates whose newest sighting is older than the window (oldest-touched first)."""
        horizon = now_ts - self.config.window_ms
        n = 0
        while self._by_key:
            key, kept = next(iter(self._by_key.items()))
            if kept and kept[-1].ts >= horizon:
                break
            del self._by_key[key]
            n += 1
        return n


def _impossible_text(v: Verdict, c: CloneConfig) -> str:
    apart = f"{v.distance_km:.1f} km in {v.seconds_apart:.0f} s"
    if v.min_travel_s is not None:
        return f"{apart} (+{c.skew_ms / 1000:.0f} s skew) against a shortest trip of {v.min_travel_s:.0f} s"
    speed = "at once" if v.speed_kmh is None else f"{v.speed_kmh:.0f} km/h"
    return f"{apart} (+{c.skew_ms / 1000:.0f} s skew): {speed} > {c.max_speed_kmh:.0f} km/h"
