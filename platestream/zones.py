"""Camera zones: region-of-interest and exclusion polygons, and the test a read's plate box passes.

A camera record carries its zones as JSON in ``roi``: ``{"roi": [polygon, ...], "exclusions":
[polygon, ...]}``, each polygon a list of ``[x, y]`` points as fractions of the frame (0..1), so
they hold at any stream resolution. A read counts when its plate box centre lies inside some ROI
polygon (or there is none) and inside no exclusion polygon. Shared by the API (validation),
ingest (frames carry their camera's zones), detect and enrich (the test itself).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

Point = tuple[float, float]
Polygon = tuple[Point, ...]
MAX_POLYGONS = 16
MAX_POINTS = 64
MAX_JSON = 64 * 1024


@dataclass(frozen=True)
class Zones:
    roi: tuple[Polygon, ...] = ()
    exclusions: tuple[Polygon, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.roi and not self.exclusions

    def verdict(self, x: float, y: float) -> str | None:
        """None when a point (frame fractions) counts, else why not: outside-roi | excluded."""
        if self.roi and not any(inside(p, x, y) for p in self.roi):
            return "outside-roi"
        if any(inside(p, x, y) for p in self.exclusions):
            return "excluded"
        return None

    def box_verdict(
        self, box: dict[str, Any] | None, width: int | None, height: int | None
    ) -> str | None:
        """``verdict`` for the centre of a pixel box ``{x, y, w, h}`` in a ``width`` x ``height``
        image; a read without a box or an image size cannot be placed and counts."""
        if self.empty or not box or not width or not height:
            return None
        cx = (box["x"] + box["w"] / 2) / width
        cy = (box["y"] + box["h"] / 2) / height
        return self.verdict(cx, cy)

    def to_dict(self) -> dict[str, list[list[list[float]]]]:
        return {
            "roi": [[list(pt) for pt in poly] for poly in self.roi],
            "exclusions": [[list(pt) for pt in poly] for poly in self.exclusions],
        }


NONE = Zones()


def inside(poly: Polygon, x: float, y: float) -> bool:
    """Even-odd ray casting: whether (x, y) lies inside the polygon."""
    hit = False
    n = len(poly)
    j = n - 1
    for i in range(n):
        xi, yi = poly[i]
        xj, yj = poly[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            hit = not hit
        j = i
    return hit


def _polygons(value: Any, field: str) -> tuple[Polygon, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_POLYGONS:
        raise ValueError(f"{field}: a list of at most {MAX_POLYGONS} polygons")
    out = []
    for i, poly in enumerate(value):
        if not isinstance(poly, list) or not 3 <= len(poly) <= MAX_POINTS:
            raise ValueError(f"{field}[{i}]: a polygon of 3 to {MAX_POINTS} points")
        points = []
        for k, pt in enumerate(poly):
            if (
                not isinstance(pt, list | tuple)
                or len(pt) != 2
                or not all(isinstance(c, int | float) and not isinstance(c, bool) for c in pt)
            ):
                raise ValueError(f"{field}[{i}][{k}]: a point [x, y]")
            x, y = float(pt[0]), float(pt[1])
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"{field}[{i}][{k}]: coordinates are frame fractions in [0, 1]")
            points.append((x, y))
        out.append(tuple(points))
    return tuple(out)


def from_dict(value: dict[str, Any]) -> Zones:
    """Zones from ``{"roi": [...], "exclusions": [...]}``; ValueError naming the bad part."""
    if not isinstance(value, dict):
        raise ValueError("zones: an object with roi and exclusions")
    return Zones(
        _polygons(value.get("roi"), "roi"), _polygons(value.get("exclusions"), "exclusions")
    )


@lru_cache(maxsize=256)
def parse(text: str | None) -> Zones:
    """Zones from a camera's or frame's JSON; ValueError for JSON that is not valid zones."""
    if not text:
        return NONE
    if len(text) > MAX_JSON:
        raise ValueError(f"zones JSON longer than {MAX_JSON} characters")
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"zones are not JSON: {exc}") from exc
    return from_dict(raw)


def parse_lenient(text: str | None) -> Zones:
    """``parse``, but zones that do not parse (an old record in pixels, say) apply no filter."""
    try:
        return parse(text)
    except ValueError:
        return NONE
