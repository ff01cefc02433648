"""Edge devices allowed to push to ingest (anpr.devices.v1): created, edited, rotated and revoked
here, followed live by ingest. The credential is shown once, on create and on rotate; only its
SHA-256 is stored."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel, Field, field_validator

from platestream import topics as catalogue
from platestream.credentials import new_device_credential
from platestream.timeutil import now_ms
from services.api.deps import CameraRead, CameraWrite, StateDep, audit
from services.api.state import AppState

router = APIRouter(prefix="/api/v1/devices", tags=["devices"])

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
DeviceId = Annotated[str, Path(pattern=ID_PATTERN)]
# The push formats of ingest (/push/{format}); tests/api/test_devices_units.py keeps them in step.
PUSH_FORMATS = ("hikvision", "dahua", "openalpr", "platerecognizer", "axis", "generic")
CameraIdStr = Annotated[str, Field(pattern=ID_PATTERN)]


class DeviceSettings(BaseModel):
    name: str = Field(default="", max_length=128)
    camera_ids: list[CameraIdStr] = Field(default_factory=list, max_length=1000)
    allowed_formats: list[str] = Field(default_factory=list, max_length=len(PUSH_FORMATS))
    rate_per_s: float = Field(default=50.0, gt=0, le=10_000)
    burst: int = Field(default=100, ge=1, le=100_000)

    @field_validator("allowed_formats")
    @classmethod
    def _formats(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(PUSH_FORMATS))
        if unknown:
            raise ValueError(f"unknown push format(s) {unknown}; one of {list(PUSH_FORMATS)}")
        return sorted(set(v))


class DeviceCreate(DeviceSettings):
    device_id: str = Field(pattern=ID_PATTERN)


class DeviceUpdate(BaseModel):
    name: str | None = Field(default=None, max_length=128)
    camera_ids: list[CameraIdStr] | None = Field(default=None, max_length=1000)
    allowed_formats: list[str] | None = Field(default=None, max_length=len(PUSH_FORMATS))
    rate_per_s: float | None = Field(default=None, gt=0, le=10_000)
    burst: int | None = Field(default=None, ge=1, le=100_000)

    @field_validator("allowed_formats")
    @classmethod
    def _formats(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else DeviceSettings._formats(v)


class DeviceOut(BaseModel):
    device_id: str
    name: str
    camera_ids: list[str]
    allowed_formats: list[str]
    rate_per_s: float
    burst: int
    credential_id: str
    revoked: bool
    created_at: int
    updated_at: int
    last_seen: int | None = None
    pushes_per_min: int = 0
    rejects_per_min: int = 0
    remote_addr: str | None = None
    last_reject: str | None = None


class DeviceCreated(DeviceOut):
    credential: str = Field(description="The device credential; shown only now.")


def _out(
    state: AppState, rec: dict[str, Any], activity: dict[str, Any] | None = None
) -> dict[str, Any]:
    out = {k: rec[k] for k in DeviceOut.model_fields if k in rec}
    out["rate_per_s"] = round(float(rec["rate_per_s"]), 3)
    act = activity if activity is not None else state.control.device_activity()
    out.update(act.get(rec["device_id"], {}))
    return out


def _publish(state: AppState, device_id: str, record: dict[str, Any] | None) -> None:
    part, off = state.publisher.publish(
        catalogue.DEVICES.name, catalogue.DEVICES.schema, device_id, record
    )
    if not state.control.devices.wait_for(part, off):
        state.control.devices.apply(device_id, record)


def _existing(state: AppState, device_id: str) -> dict[str, Any]:
    rec = state.control.devices.get(device_id)
    if rec is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such device")
    return rec


@router.get("", response_model=list[DeviceOut])
def list_devices(state: StateDep, _p: CameraRead) -> list[dict[str, Any]]:
    """List devices with their activity (never their credentials)."""
    activity = state.control.device_activity()
    return sorted(
        (_out(state, d, activity) for d in state.control.devices.values()),
        key=lambda d: d["device_id"],
    )


@router.get("/{device_id}", response_model=DeviceOut)
def get_device(device_id: DeviceId, state: StateDep, _p: CameraRead) -> dict[str, Any]:
    """One device with its activity."""
    return _out(state, _existing(state, device_id))


@router.post("", response_model=DeviceCreated, status_code=status.HTTP_201_CREATED)
def create_device(
    body: DeviceCreate, request: Request, state: StateDep, p: CameraWrite
) -> dict[str, Any]:
    """Create a device; the response carries its credential, once."""
    if state.control.devices.get(body.device_id) is not None:
        raise HTTPException(status.HTTP_409_CONFLICT, "a device with this id exists")
    credential_id, credential, digest = new_device_credential()
    now = now_ms()
    record = {
        **body.model_dump(),
        "credential_id": credential_id,
        "secret_hash": digest,
        "revoked": False,
        "created_at": now,
        "updated_at": now,
        "actor": p.subject,
    }
    _publish(state, body.device_id, record)
    audit(
        state,
        request,
        p,
        "device_change",
        query={"op": "create", "device_id": body.device_id},
        status_code=201,
    )
    return {**_out(state, record), "credential": credential}


@router.patch("/{device_id}", response_model=DeviceOut)
def update_device(
    device_id: DeviceId, body: DeviceUpdate, request: Request, state: StateDep, p: CameraWrite
) -> dict[str, Any]:
    """Change a device's cameras, formats, rate or name."""
    record = {
        **_existing(state, device_id),
        **body.model_dump(exclude_none=True),
        "updated_at": now_ms(),
        "actor": p.subject,
    }
    _publish(state, device_id, record)
    audit(state, request, p, "device_change", query={"op": "update", "device_id": device_id})
    return _out(state, record)


@router.post("/{device_id}/rotate", response_model=DeviceCreated)
def rotate_credential(
    device_id: DeviceId, request: Request, state: StateDep, p: CameraWrite
) -> dict[str, Any]:
    """Replace the device's credential (the old one stops working); the new one is shown once."""
    credential_id, credential, digest = new_device_credential()
    record = {
        **_existing(state, device_id),
        "credential_id": credential_id,
        "secret_hash": digest,
        "revoked": False,
        "updated_at": now_ms(),
        "actor": p.subject,
    }
    _publish(state, device_id, record)
    audit(state, request, p, "device_change", query={"op": "rotate", "device_id": device_id})
    return {**_out(state, record), "credential": credential}


@router.post("/{device_id}/revoke", response_model=DeviceOut)
def revoke_device(
    device_id: DeviceId, request: Request, state: StateDep, p: CameraWrite
) -> dict[str, Any]:
    """Revoke the device: its pushes are refused with 401 (rotate to re-admit it)."""
    record = {
        **_existing(state, device_id),
        "revoked": True,
        "updated_at": now_ms(),
        "actor": p.subject,
    }
    _publish(state, device_id, record)
    audit(state, request, p, "device_change", query={"op": "revoke", "device_id": device_id})
    return _out(state, record)


@router.delete("/{device_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_device(device_id: DeviceId, request: Request, state: StateDep, p: CameraWrite) -> None:
    """Delete the device (a tombstone on anpr.devices.v1)."""
    _existing(state, device_id)
    _publish(state, device_id, None)
    audit(
        state,
        request,
        p,
        "device_change",
        query={"op": "delete", "device_id": device_id},
        status_code=204,
    )
