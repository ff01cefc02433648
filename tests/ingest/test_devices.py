"""Device credentials, cameras and rate limits."""

from __future__ import annotations

import base64
import hashlib

import pytest

from services.ingest.devices import ApiKeyStore, AuthError, DeviceAuth, TokenBucket
from services.ingest.settings import DeviceConfig, IngestSettings

DEVICES = {
    "hik-1": DeviceConfig(camera_id="cam-hik", secret="s3cret-hik-1", username="admin"),
    "edge-2": DeviceConfig(camera_id="cam-edge", secret="s3cret-edge-2", sources=["generic"]),
}


def basic(user: str, pw: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_api_key_header_and_basic() -> None:
    auth = DeviceAuth(DEVICES)
    p = auth.authenticate({"x-api-key": "s3cret-hik-1"})
    assert p.device_id == "hik-1" and p.camera_for(None, "hikvision") == "cam-hik"
    assert auth.authenticate({"authorization": basic("admin", "s3cret-hik-1")}).device_id == "hik-1"
    assert auth.authenticate({"authorization": "Bearer s3cret-edge-2"}).device_id == "edge-2"
    assert auth.authenticate({}, {"api_key": "s3cret-edge-2"}).device_id == "edge-2"
    assert (
        auth.authenticate({"x-api-key": "s3cret-edge-2", "x-device-id": "edge-2"}).device_id
        == "edge-2"
    )


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"x-api-key": "wrong-secret"},
        {"authorization": basic("admin", "nope")},
        {"authorization": basic("nobody", "s3cret-hik-1")},
        {"authorization": "Basic !!!"},
        {"x-api-key": "s3cret-hik-1", "x-device-id": "edge-2"},
    ],
)
def test_refused(headers: dict) -> None:
    with pytest.raises(AuthError) as exc:
        DeviceAuth(DEVICES).authenticate(headers)
    assert exc.value.status == 401


def test_camera_and_format_checks() -> None:
    auth = DeviceAuth(DEVICES)
    p = auth.authenticate({"x-api-key": "s3cret-edge-2"})
    with pytest.raises(AuthError, match="unknown camera"):
        p.camera_for("cam-other", "generic")
    with pytest.raises(AuthError, match="may not push"):
        p.camera_for(None, "hikvision")


def test_api_key_store() -> None:
    store = ApiKeyStore()
    store.apply(
        "psk_ab12",
        {
            "key_hash": hashlib.sha256(b"topsecret").hexdigest(),
            "role": "device",
            "camera_ids": ["cam-9"],
            "revoked": False,
        },
    )
    store.apply(
        "psk_ro", {"key_hash": hashlib.sha256(b"x").hexdigest(), "role": "viewer", "camera_ids": []}
    )
    auth = DeviceAuth({}, api_keys=store)
    p = auth.authenticate({"x-api-key": "psk_ab12.topsecret"})
    assert p.via == "api-key" and p.camera_for(None, "generic") == "cam-9"
    with pytest.raises(AuthError):
        auth.authenticate({"x-api-key": "psk_ab12.wrong"})
    with pytest.raises(AuthError):
        auth.authenticate({"x-api-key": "psk_ro.x"})  # not a device key
    store.apply("psk_ab12", None)  # tombstone
    with pytest.raises(AuthError):
        auth.authenticate({"x-api-key": "psk_ab12.topsecret"})


def test_token_bucket() -> None:
    now = [0.0]
    tb = TokenBucket(clock=lambda: now[0])
    assert [tb.allow("d", 2.0, 3) for _ in range(4)] == [True, True, True, False]
    now[0] += 0.5
    assert tb.allow("d", 2.0, 3) and not tb.allow("d", 2.0, 3)
    assert tb.allow("other", 2.0, 3)


def test_devices_from_env_json_and_file(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv(
        "PLATESTREAM_INGEST_DEVICES", '{"d1": {"camera_id": "c1", "secret": "12345678"}}'
    )
    f = tmp_path / "devices.yaml"
    f.write_text("d2:\n  camera_id: c2\n  secret: abcdefgh\n  rate_per_s: 5\n")
    monkeypatch.setenv("PLATESTREAM_INGEST_DEVICES_FILE", str(f))
    devices = IngestSettings().devices()
    assert devices["d1"].camera_id == "c1" and devices["d2"].rate_per_s == 5


def test_http_digest_from_a_device() -> None:
    import httpx

    now = [1_750_000_000.0]
    auth = DeviceAuth(DEVICES, nonce_key=b"k" * 32, clock=lambda: now[0])
    challenge = auth.digest_challenge()

    # let httpx's own DigestAuth answer the challenge, as a camera would
    def answer(password: str) -> str:
        request = httpx.Request("POST", "http://ingest/push/hikvision?x=1")
        flow = httpx.DigestAuth("admin", password).auth_flow(request)
        next(flow)
        retry = flow.send(
            httpx.Response(401, headers={"WWW-Authenticate": challenge}, request=request)
        )
        return retry.headers["authorization"]

    header = answer("s3cret-hik-1")
    assert (
        auth.authenticate(
            {"authorization": header}, method="POST", uri="/push/hikvision?x=1"
        ).device_id
        == "hik-1"
    )
    with pytest.raises(AuthError, match="uri"):
        auth.authenticate({"authorization": header}, method="POST", uri="/push/other")
    with pytest.raises(AuthError, match="wrong device credential"):
        auth.authenticate(
            {"authorization": answer("bad")}, method="POST", uri="/push/hikvision?x=1"
        )
    now[0] += 301  # nonce expired
    with pytest.raises(AuthError, match="nonce"):
        auth.authenticate({"authorization": header}, method="POST", uri="/push/hikvision?x=1")
