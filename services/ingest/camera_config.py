"""A camera record from ``anpr.cameras.v1`` as the camera manager sees it: what to open and how.

Records are validated here even though the API wrote them (the topic is open to any producer): a
bad value never stops the manager, it makes that camera unrunnable with a reason, reported as an
offline status.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from typing import Any

from platestream import zones as zone_rules
from platestream.plate_formats import formats_for
from services.ingest.settings import IngestSettings
from services.ingest.video_sources import source_kind

KINDS = ("stream", "dahua", "push")
MAX_URL = 1024


@dataclass(frozen=True)
class SourceSettings:
    """What the frame gate and the encoder apply; changes take effect without reopening."""

    fps: float
    jpeg_quality: int
    dup_threshold: float
    motion_threshold: float
    keepalive_s: float


@dataclass(frozen=True)
class CameraConfig:
    camera_id: str
    kind: str = "stream"
    stream_url: str | None = None
    credentials_secret: str | None = None
    enabled: bool = True
    plate_formats: tuple[str, ...] = ()
    zones: str | None = None  # JSON as it travels on frames; None: no zones
    fps_cap: float | None = None
    jpeg_quality: int | None = None
    dup_threshold: float | None = None
    motion_threshold: float | None = None
    problem: str | None = field(default=None, compare=True)  # why it cannot run, if it cannot

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> CameraConfig:
        """The config of one record; never raises for bad values (they become ``problem``)."""
        cid = str(rec["camera_id"])[:64]
        kind = str(rec.get("kind") or "stream")
        url = rec.get("stream_url") or None
        problems = []
        if kind not in KINDS:
            problems.append(f"unknown camera kind {kind[:32]!r}")
        if url is not None and (len(url) > MAX_URL or any(ord(c) < 32 for c in url)):
            problems.append("stream_url is too long or has control characters")
            url = None
        elif url is not None and kind == "dahua" and source_kind(url) != "http":
            problems.append("a dahua camera's stream_url must be http(s)://")
        formats = tuple(str(f) for f in rec.get("plate_formats") or ())[:32]
        try:
            formats_for(list(formats))
        except ValueError as exc:
            problems.append(f"plate_formats: {exc}")
            formats = ()
        zones_json = rec.get("roi") or None
        try:
            parsed = zone_rules.parse(zones_json)
            zones_json = None if parsed.empty else zones_json
        except ValueError as exc:
            problems.append(f"zones: {exc}")
            zones_json = None
        quality = rec.get("jpeg_quality")
        if quality is not None and not 10 <= int(quality) <= 100:
            problems.append("jpeg_quality must be 10-100")
            quality = None
        fps = rec.get("fps_cap")
        if fps is not None and not 0 < float(fps) <= 60:
            problems.append("fps_cap must be in (0, 60]")
            fps = None
        return cls(
            camera_id=cid,
            kind=kind,
            stream_url=url,
            credentials_secret=rec.get("credentials_secret") or None,
            enabled=bool(rec.get("enabled", True)),
            plate_formats=formats,
            zones=zones_json,
            fps_cap=fps,
            jpeg_quality=quality,
            dup_threshold=_nonneg(rec.get("dup_threshold")),
            motion_threshold=_nonneg(rec.get("motion_threshold")),
            problem="; ".join(problems) or None,
        )

    @property
    def runnable(self) -> bool:
        """Whether the manager should run something for this camera."""
        return self.enabled and self.kind in ("stream", "dahua") and bool(self.stream_url)

    def open_key(self) -> tuple[Any, ...]:
        """What a running source must be reopened for when it changes."""
        return (self.kind, self.stream_url, self.credentials_secret)

    def source_settings(self, defaults: IngestSettings) -> SourceSettings:
        d = defaults
        return SourceSettings(
            fps=self.fps_cap or d.ingest_frame_fps,
            jpeg_quality=self.jpeg_quality or d.ingest_frame_jpeg_quality,
            dup_threshold=d.ingest_frame_dup_threshold
            if self.dup_threshold is None
            else self.dup_threshold,
            motion_threshold=d.ingest_frame_motion_threshold
            if self.motion_threshold is None
            else self.motion_threshold,
            keepalive_s=d.ingest_frame_keepalive_s,
        )


def _nonneg(value: Any) -> float | None:
    if value is None:
        return None
    v = float(value)
    return v if 0 <= v <= 255 else None


def slot_of(camera_id: str, slots: int) -> int:
    """The coordination partition that owns a camera: stable in every process (CRC-32)."""
    return zlib.crc32(camera_id.encode("utf-8")) % max(1, slots)
