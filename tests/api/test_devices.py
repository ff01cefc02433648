"""Devices managed through the API, followed live by a running ingest: create, push with the
credential shown once, see the device's activity, rotate, revoke; no restart of either."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import pytest

from .helpers import ApiEnv, wait_until
from .ingest_env import running_ingest

pytestmark = pytest.mark.integration
FOLLOW_S = 15.0  # how long ingest may take to follow a device change (bounded wait)

PUSH = json.dumps({"plate": "DEV1234", "confidence": 0.9, "ts": "2026-01-01T10:00:00Z"}).encode()


def push(url: str, credential: str, fmt: str = "generic") -> int:
    r = httpx.post(
        f"{url}/push/{fmt}",
        content=PUSH,
        headers={"X-API-Key": credential, "Content-Type": "application/json"},
        timeout=20,
    )
    return r.status_code


def until_status(url: str, credential: str, want: int, within: float) -> float:
    """Seconds until a push answers ``want``."""
    start = time.monotonic()
    wait_until(lambda: push(url, credential) == want, within, f"a push answered {want}", 0.25)
    return time.monotonic() - start


def device(api_env: ApiEnv, device_id: str) -> dict[str, Any]:
    r = api_env.get(f"/api/v1/devices/{device_id}")
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_device_created_rotated_and_revoked_through_the_api_is_followed_live(
    api_env: ApiEnv,
) -> None:
    bad = api_env.post(
        "/api/v1/devices", json={"device_id": "gate-x", "allowed_formats": ["telnet"]}
    )
    assert bad.status_code == 422 and "allowed_formats" in json.dumps(bad.json())
    with running_ingest(api_env, ingest_device_status_s=0.5) as ingest:
        r = api_env.post(
            "/api/v1/devices",
            json={
                "device_id": "gate-1",
                "name": "North gate",
                "camera_ids": ["cam-gate"],
                "allowed_formats": ["generic"],
                "rate_per_s": 20,
            },
        )
        assert r.status_code == 201, r.text
        created = r.json()
        credential = created["credential"]
        assert credential.startswith(f"psd_{created['credential_id']}_")
        listed = [d for d in api_env.get("/api/v1/devices").json() if d["device_id"] == "gate-1"]
        assert len(listed) == 1 and listed[0]["camera_ids"] == ["cam-gate"]
        assert credential not in json.dumps(listed) and "secret_hash" not in listed[0]
        assert (
            api_env.post("/api/v1/devices", role="operator", json={"device_id": "x"}).status_code
            == 403
        )

        # "within a few seconds": 5 s on a quiet machine; make test allows 15 on a loaded one
        took = until_status(ingest, credential, 200, FOLLOW_S)
        print(f"device usable {took:.1f} s after its creation")
        assert push(ingest, credential, fmt="hikvision") == 403  # format not allowed

        seen = wait_until(
            # the reject may land in a later status event than the accepted push
            lambda: (
                (d := device(api_env, "gate-1"))["pushes_per_min"] >= 1
                and d["rejects_per_min"] >= 1
                and d
            ),
            10,
            "the device's activity in the API",
        )
        assert seen["remote_addr"] == "127.0.0.1" and seen["last_seen"] is not None
        assert seen["rejects_per_min"] >= 1  # the hikvision push

        rotated = api_env.post("/api/v1/devices/gate-1/rotate")
        assert rotated.status_code == 200
        new_credential = rotated.json()["credential"]
        until_status(ingest, credential, 401, FOLLOW_S)
        assert push(ingest, new_credential) == 200

        assert api_env.post("/api/v1/devices/gate-1/revoke").json()["revoked"] is True
        took = until_status(ingest, new_credential, 401, FOLLOW_S)
        print(f"device refused {took:.1f} s after its revocation")
        wait_until(
            lambda: device(api_env, "gate-1")["last_reject"] == "HTTP 401",
            10,
            "the refused push in the device's status",
        )
    assert (
        api_env.http.delete("/api/v1/devices/gate-1", headers=api_env.headers("admin")).status_code
        == 204
    )
    assert api_env.get("/api/v1/devices/gate-1").status_code == 404
