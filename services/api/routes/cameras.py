"""Cameras: location, stream, credentials (kept as secrets), zones, plate formats, detector settings."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit, urlunsplit

from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel, Field, field_validator

from platestream import topics as catalogue
from platestream.limits import CAMERA_ID_PATTERN
from platestream.plate_formats import formats_for
from platestream.timeutil import now_ms
from services.api.deps import CameraRead, CameraWrite, StateDep, audit
from services.api.secrets import camera_secret_name
from services.api.state import AppState

router = APIRouter(prefix="/api/v1/cameras", tags=["cameras"])

CameraId = Annotated[str, Path(pattern=CAMERA_ID_PATTERN)]  # the rule every stage applies
Fraction = Annotated[float, Field(ge=0, le=1)]
Point = tuple[Fraction, Fraction]
Kind = Literal["stream", "dahua", "push"]


def _known_formats(v: list[str] | None) -> list[str] | None:
    """Plate formats and regions detect knows (``platestream.plate_formats``); else a 422."""
    if v:
        formats_for(v)  # ValueError names the unknown one and lists the known ones
    return v


class Zones(BaseModel):
    """Polygons as frame fractions (x, y in [0, 1], so they hold at any stream resolution): a read
    counts when its plate box centre is inside some ``roi`` polygon (or there is none) and inside
    no exclusion."""

    roi: list[Annotated[list[Point], Field(min_length=3, max_length=64)]] = Field(
        default_factory=list, max_length=16
    )
    exclusions: list[Annotated[list[Point], Field(min_length=3, max_length=64)]] = Field(
        default_factory=list, max_length=16
    )


class Credentials(BaseModel):
    username: str = Field(max_length=256)
    password: str = Field(max_length=256)


class CameraIn(BaseModel):
    name: str = Field(default="", max_length=128)
    site: str | None = Field(default=None, max_length=128)
    zone: str | None = Field(default=None, max_length=128)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    heading: float | None = Field(default=None, ge=0, lt=360)
    direction_map: dict[str, str] = Field(default_factory=dict, max_length=32)
    stream_url: str | None = Field(default=None, max_length=1024)
    credentials: Credentials | None = Field(
        default=None, description="Write-only; kept in the secret store."
    )
    plate_formats: list[str] = Field(default_factory=list, max_length=32)
    zones: Zones = Field(default_factory=Zones)
    detector: dict[str, str] = Field(default_factory=dict, max_length=64)
    offline_after_s: int = Field(default=300, ge=10, le=7 * 86400)
    enabled: bool = True
    kind: Kind = Field(
        default="stream",
        description="stream: the camera manager opens stream_url; dahua: the Dahua event "
        "connector on stream_url; push: the camera pushes, nothing is opened.",
    )
    fps_cap: float | None = Field(default=None, gt=0, le=60)
    jpeg_quality: int | None = Field(default=None, ge=10, le=100)
    dup_threshold: float | None = Field(default=None, ge=0, le=255)
    motion_threshold: float | None = Field(default=None, ge=0, le=255)

    _formats = field_validator("plate_formats")(_known_formats)

    @field_validator("direction_map")
    @classmethod
    def _directions(cls, v: dict[str, str]) -> dict[str, str]:
        bad = [d for d in v.values() if d not in ("approaching", "leaving")]
        if bad:
            raise ValueError("direction_map values must be approaching or leaving")
        return v


class CameraPatch(BaseModel):
    name: str | None = Field(default=None, max_length=128)
    site: str | None = Field(default=None, max_length=128)
    zone: str | None = Field(default=None, max_length=128)
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)
    heading: float | None = Field(default=None, ge=0, lt=360)
    stream_url: str | None = Field(default=None, max_length=1024)
    credentials: Credentials | None = None
    plate_formats: list[str] | None = Field(default=None, max_length=32)
    zones: Zones | None = None
    detector: dict[str, str] | None = Field(default=None, max_length=64)
    offline_after_s: int | None = Field(default=None, ge=10, le=7 * 86400)
    enabled: bool | None = None
    kind: Kind | None = None
    fps_cap: float | None = Field(default=None, gt=0, le=60)
    jpeg_quality: int | None = Field(default=None, ge=10, le=100)
    dup_threshold: float | None = Field(default=None, ge=0, le=255)
    motion_threshold: float | None = Field(default=None, ge=0, le=255)

    _formats = field_validator("plate_formats")(_known_formats)


class CameraOut(BaseModel):
    camera_id: str
    name: str
    site: str | None
    zone: str | None
    lat: float | None
    lon: float | None
    heading: float | None
    direction_map: dict[str, str]
    stream_url: str | None
    has_credentials: bool
    plate_formats: list[str]
    zones: Zones
    detector: dict[str, str]
    offline_after_s: int
    enabled: bool
    kind: str = "stream"
    fps_cap: float | None = None
    jpeg_quality: int | None = None
    dup_threshold: float | None = None
    motion_threshold: float | None = None
    updated_at: int
    updated_by: str


def split_credentials(url: str | None) -> tuple[str | None, Credentials | None]:
    """Move user:password out of a stream URL (the record never carries credentials)."""
    if not url:
        return url, None
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, Credentials(
        username=unquote(parts.username or ""), password=unquote(parts.password or "")
    )


def camera_out(rec: dict[str, Any]) -> dict[str, Any]:
    try:
        zones = json.loads(rec.get("roi") or "{}")
    except ValueError:
        zones = {}
    return {
        **{
            k: rec.get(k)
            for k in (
                "camera_id",
                "name",
                "site",
                "zone",
                "lat",
                "lon",
                "heading",
                "stream_url",
                "offline_after_s",
                "enabled",
                "fps_cap",
                "jpeg_quality",
                "dup_threshold",
                "motion_threshold",
                "updated_at",
                "updated_by",
            )
        },
        "kind": rec.get("kind") or "stream",
        "direction_map": dict(rec.get("direction_map") or {}),
        "plate_formats": list(rec.get("plate_formats") or []),
        "detector": dict(rec.get("detector") or {}),
        "zones": {"roi": zones.get("roi", []), "exclusions": zones.get("exclusions", [])},
        "has_credentials": bool(rec.get("credentials_secret")),
    }


def _publish(state: AppState, camera_id: str, record: dict[str, Any] | None) -> None:
    part, off = state.publisher.publish(
        catalogue.CAMERAS.name, catalogue.CAMERAS.schema, camera_id, record
    )
    if not state.cameras.wait_for(part, off):
        state.cameras.apply(camera_id, record)


def _record(
    camera_id: str,
    body: dict[str, Any],
    state: AppState,
    actor: str,
    previous: dict[str, Any] | None,
) -> dict[str, Any]:
    url, creds = split_credentials(body.get("stream_url"))
    creds_in = body.get("credentials")
    creds = Credentials(**creds_in) if creds_in else creds
    secret = (previous or {}).get("credentials_secret")
    if creds is not None:
        secret = camera_secret_name(camera_id)
        state.secrets.put(secret, json.dumps(creds.model_dump()))
    zones = body.get("zones") or {"roi": [], "exclusions": []}
    return {
        "camera_id": camera_id,
        "name": body.get("name") or "",
        "site": body.get("site"),
        "zone": body.get("zone"),
        "lat": body.get("lat"),
        "lon": body.get("lon"),
        "heading": body.get("heading"),
        "direction_map": dict(body.get("direction_map") or {}),
        "stream_url": url,
        "credentials_secret": secret,
        "plate_formats": list(body.get("plate_formats") or []),
        "roi": json.dumps({"roi": zones.get("roi", []), "exclusions": zones.get("exclusions", [])}),
        "detector": {str(k): str(v) for k, v in (body.get("detector") or {}).items()},
        "offline_after_s": int(body.get("offline_after_s") or 300),
        "enabled": bool(body.get("enabled", True)),
        "kind": body.get("kind") or "stream",
        "fps_cap": body.get("fps_cap"),
        "jpeg_quality": body.get("jpeg_quality"),
        "dup_threshold": body.get("dup_threshold"),
        "motion_threshold": body.get("motion_threshold"),
        "updated_at": now_ms(),
        "updated_by": actor,
    }


@router.get("", response_model=list[CameraOut])
def list_cameras(state: StateDep, _p: CameraRead) -> list[dict[str, Any]]:
    """Every camera (credentials are never returned)."""
    return sorted((camera_out(c) for c in state.cameras.values()), key=lambda c: c["camera_id"])


@router.get("/{camera_id}", response_model=CameraOut)
def get_camera(camera_id: CameraId, state: StateDep, _p: CameraRead) -> dict[str, Any]:
    """One camera."""
    rec = state.cameras.get(camera_id)
    if rec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such camera")
    return camera_out(rec)


@router.put("/{camera_id}", response_model=CameraOut)
def put_camera(
    camera_id: CameraId, body: CameraIn, request: Request, state: StateDep, p: CameraWrite
) -> dict[str, Any]:
    """Create or replace a camera (published to anpr.cameras.v1)."""
    previous = state.cameras.get(camera_id)
    record = _record(camera_id, body.model_dump(), state, p.subject, previous)
    _publish(state, camera_id, record)
    audit(state, request, p, "camera_change", query={"op": "put", "camera_id": camera_id})
    return camera_out(record)


@router.patch("/{camera_id}", response_model=CameraOut)
def patch_camera(
    camera_id: CameraId, body: CameraPatch, request: Request, state: StateDep, p: CameraWrite
) -> dict[str, Any]:
    """Change some fields of a camera."""
    previous = state.cameras.get(camera_id)
    if previous is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such camera")
    merged = camera_out(previous)
    merged.update(body.model_dump(exclude_unset=True))
    if "zones" in merged and hasattr(merged["zones"], "model_dump"):
        merged["zones"] = merged["zones"].model_dump()
    record = _record(camera_id, merged, state, p.subject, previous)
    _publish(state, camera_id, record)
    audit(
        state,
        request,
        p,
        "camera_change",
        query={"op": "patch", "camera_id": camera_id, "fields": sorted(body.model_fields_set)},
    )
    return camera_out(record)


@router.delete("/{camera_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_camera(camera_id: CameraId, request: Request, state: StateDep, p: CameraWrite) -> None:
    """Delete a camera (a tombstone) and its stored credentials."""
    previous = state.cameras.get(camera_id)
    if previous is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such camera")
    _publish(state, camera_id, None)
    if previous.get("credentials_secret"):
        state.secrets.delete(previous["credentials_secret"])
    audit(
        state,
        request,
        p,
        "camera_change",
        query={"op": "delete", "camera_id": camera_id},
        status_code=204,
    )
