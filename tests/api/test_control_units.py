"""Pure logic of the control plane: device credentials, the device store and activity counts, the
outbound-target guard, route validation and the merge of camera status records."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from platestream.credentials import credential_matches, new_device_credential, split_credential
from platestream.netguard import TargetRefused, check_host, check_url
from services.api.routes.alert_routes import RouteIn, validate
from services.api.routes.devices import PUSH_FORMATS, DeviceCreate
from services.ingest.device_registry import DeviceActivity, DeviceStore
from services.ingest.devices import AuthError, DeviceAuth
from services.ingest.formats import PARSERS


def test_device_formats_are_ingest_push_formats() -> None:
    assert set(PUSH_FORMATS) == set(PARSERS)
    with pytest.raises(ValueError, match="unknown push format"):
        DeviceCreate(device_id="d1", allowed_formats=["hikvision", "telnet"])


def test_credential_is_stored_as_hash_only() -> None:
    cid, cred, digest = new_device_credential()
    assert cred.startswith(f"psd_{cid}_") and cred.split("_", 2)[2] not in digest
    assert split_credential(cred) == (cid, cred.split("_", 2)[2])
    assert credential_matches(cred, digest)
    assert not credential_matches(cred + "x", digest)
    assert split_credential("psk_abc_def") is None


def _record(device_id: str, **kw: object) -> tuple[str, dict[str, object]]:
    cid, cred, digest = new_device_credential()
    rec = {
        "device_id": device_id,
        "camera_ids": ["cam-1"],
        "allowed_formats": ["generic"],
        "rate_per_s": 5.0,
        "burst": 10,
        "credential_id": cid,
        "secret_hash": digest,
        "revoked": False,
        **kw,
    }
    return cred, rec


def test_device_store_authenticates_rotates_and_revokes() -> None:
    store = DeviceStore()
    auth = DeviceAuth({}, device_store=store)
    cred, rec = _record("gate-1")
    with pytest.raises(AuthError):
        auth.authenticate({"x-api-key": cred})
    store.apply("gate-1", rec)
    p = auth.authenticate({"x-api-key": cred})
    assert (p.device_id, p.camera_ids, p.sources, p.rate_per_s) == (
        "gate-1",
        frozenset({"cam-1"}),
        frozenset({"generic"}),
        5.0,
    )
    import base64

    basic = base64.b64encode(f"gate-1:{cred}".encode()).decode()
    assert auth.authenticate({"authorization": f"Basic {basic}"}).device_id == "gate-1"
    new_cred, rotated = _record("gate-1")
    store.apply("gate-1", rotated)
    with pytest.raises(AuthError) as old:
        auth.authenticate({"x-api-key": cred})
    assert old.value.status == 401
    store.apply("gate-1", {**rotated, "revoked": True})
    with pytest.raises(AuthError) as revoked:
        auth.authenticate({"x-api-key": new_cred})
    assert revoked.value.status == 401 and revoked.value.device_id == "gate-1"
    store.apply("gate-1", None)
    assert len(store) == 0


def test_device_activity_counts_the_last_minute() -> None:
    now = [1000.0]
    act = DeviceActivity(clock=lambda: now[0])
    for _ in range(3):
        act.record("d1", ok=True, remote="10.0.0.5")
    act.record("d1", ok=False, remote="10.0.0.6", reject="HTTP 401")
    [snap] = act.snapshot()
    assert (snap["pushes_per_min"], snap["rejects_per_min"], snap["remote_addr"]) == (
        3,
        1,
        "10.0.0.6",
    )
    assert snap["last_reject"] == "HTTP 401"
    now[0] += 61
    [quiet] = act.snapshot()  # reported once more, with zeros
    assert (quiet["pushes_per_min"], quiet["rejects_per_min"]) == (0, 0)
    assert act.snapshot() == []


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://0.0.0.0/",
        "http://[::ffff:127.0.0.1]/",
        "http://[fe80::1]/",
    ],
)
def test_local_and_metadata_webhooks_are_refused(url: str) -> None:
    with pytest.raises(TargetRefused):
        check_url(url, allow_private=False, resolve=False)
    check_url(url, allow_private=True, resolve=False)


def test_site_network_and_public_targets_pass() -> None:
    check_url("https://hooks.example.org/a?b=c", allow_private=False, resolve=False)
    check_url("http://192.168.10.20:8080/barrier", allow_private=False, resolve=False)
    check_host("10.1.2.3", allow_private=False, resolve=False)
    for bad in ("ftp://example.org/x", "http:///nohost", "http://u:p@example.org/"):
        with pytest.raises(TargetRefused):
            check_url(bad, allow_private=True, resolve=False)


def _field(body: RouteIn, allow_private: bool = False) -> str:
    with pytest.raises(HTTPException) as exc:
        validate(body, allow_private=allow_private, prefix="t.")
    assert exc.value.status_code == 422
    return str(exc.value.detail[0]["loc"][-1])  # type: ignore[index]


def test_bad_routes_name_the_field() -> None:
    assert _field(RouteIn(channel="webhook", target="http://127.0.0.1/x")) == "target"
    assert _field(RouteIn(channel="webhook", target="gopher://x"), True) == "target"
    assert _field(RouteIn(channel="mqtt", target="a/b")) == "host"
    assert _field(RouteIn(channel="mqtt", target="a/#", host="broker.example.org")) == "target"
    assert _field(RouteIn(channel="email", target="nobody", host="smtp.example.org")) == "target"
    assert (
        _field(RouteIn(channel="mqtt", target="a", host="broker.example.org", tls="starttls"))
        == "tls"
    )
    assert _field(RouteIn(channel="kafka", target="anpr.plate-events.v1")) == "target"
    assert _field(RouteIn(channel="kafka", target="bad topic")) == "target"
    validate(RouteIn(channel="kafka", target="site.alerts"), allow_private=False, prefix="")
    validate(
        RouteIn(channel="email", target="ops@example.org", host="smtp.example.org", tls="starttls"),
        allow_private=False,
        prefix="",
    )


class _Proj:
    def __init__(self, items: list[dict[str, object]]) -> None:
        self.items = items

    def values(self) -> list[dict[str, object]]:
        return self.items


def _status(cam: str, ts: int, state: str, source: str, **kw: object) -> dict[str, object]:
    base = {"fps": None, "events_per_min": None, "last_event_ts": None, "reason": None}
    return {"camera_id": cam, "ts": ts, "state": state, "source": source, **base, **kw}


def test_camera_status_merges_producers_and_device_counts_add_up() -> None:
    from services.api.control import ControlPlane

    cam = [
        _status("c1", 100, "online", "frame-source", fps=4.5, last_event_ts=90),
        _status("c1", 300, "heartbeat", "frame-source", fps=5.0, last_event_ts=290),
        _status("c1", 200, "offline", "health", reason="no events for 300 s", events_per_min=0.0),
    ]
    dev = [
        {
            "device_id": "d",
            "instance": "a",
            "ts": 250_000,
            "last_seen": 900,
            "pushes_per_min": 4,
            "rejects_per_min": 1,
            "remote_addr": "10.0.0.1",
            "last_reject": "HTTP 429",
        },
        {
            "device_id": "d",
            "instance": "b",
            "ts": 250_000,
            "last_seen": 950,
            "pushes_per_min": 6,
            "rejects_per_min": 0,
            "remote_addr": "10.0.0.2",
            "last_reject": None,
        },
        {
            "device_id": "d",
            "instance": "old",
            "ts": 1,
            "last_seen": 1,
            "pushes_per_min": 50,
            "rejects_per_min": 50,
            "remote_addr": "10.9.9.9",
            "last_reject": None,
        },
    ]
    plane = ControlPlane(_Proj([]), _Proj(dev), _Proj([]), _Proj(cam))  # type: ignore[arg-type]
    merged = plane.camera_states()["c1"]
    assert (merged["state"], merged["reason"], merged["fps"], merged["events_per_min"]) == (
        "offline",
        "no events for 300 s",
        5.0,
        0.0,
    )
    assert (merged["last_event_ts"], merged["updated_at"]) == (290, 300)
    act = plane.device_activity(now=300_000)["d"]
    assert (
        act["pushes_per_min"],
        act["rejects_per_min"],
        act["last_seen"],
        act["remote_addr"],
    ) == (
        10,
        1,
        950,
        "10.0.0.2",
    )


def test_upload_tokens_name_user_and_camera_and_expire() -> None:
    import jwt

    from platestream import uploadtoken
    from services.ingest.devices import AuthError as IngestAuthError

    token = uploadtoken.issue("s" * 32, "alice", "cam-1", now_s=1_000)
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, "s" * 32, algorithms=["HS256"])
    fresh = uploadtoken.issue("s" * 32, "alice", "cam-1")
    assert uploadtoken.verify("s" * 32, fresh) == ("alice", "cam-1")
    assert uploadtoken.verify("other-secret-" * 3, fresh) is None
    assert uploadtoken.verify("s" * 32, token) is None
    access = jwt.encode(
        {"sub": "alice", "typ": "access", "exp": 2**40}, "s" * 32, algorithm="HS256"
    )
    assert uploadtoken.verify("s" * 32, access) is None  # a login token is not an upload token

    from starlette.requests import Request

    from services.ingest.uploads import _upload_user

    def request(tok: str) -> Request:
        return Request({"type": "http", "headers": [(b"authorization", f"Bearer {tok}".encode())]})

    p = _upload_user(request(fresh), "s" * 32)
    assert p is not None and p.camera_for(None, "upload") == "cam-1"
    with pytest.raises(IngestAuthError):
        p.camera_for("cam-2", "upload")
    status_only = _upload_user(request(uploadtoken.issue("s" * 32, "alice", None)), "s" * 32)
    assert status_only is not None
    with pytest.raises(IngestAuthError):
        status_only.camera_for("cam-2", "upload")


def test_notify_route_table_applies_topic_records(tmp_path: object) -> None:
    from pathlib import Path

    from platestream.secrets import SecretStore
    from platestream.serde import AvroSerde
    from services.enrich.routes import RouteTable
    from services.enrich.settings import NotifySettings, Route

    secrets_dir = Path(str(tmp_path)) / "secrets"
    SecretStore(secrets_dir).put("alert-route-r1", "hook-secret-123")
    boot = Route(channel="webhook", target="https://boot.example.org/h")
    table = RouteTable(
        NotifySettings(notify_routes=[boot], notify_secrets_dir=secrets_dir), serde=AvroSerde()
    )
    rec = {
        "route_id": "r1",
        "channel": "webhook",
        "target": "https://hooks.example.org/a",
        "lists": ["stolen"],
        "min_priority": "high",
        "enabled": True,
        "tls": "none",
        "secret_ref": "alert-route-r1",
    }
    table.apply("r1", rec)
    [b, r1] = table.current()
    assert b == boot and (r1.route_id, r1.secret, r1.lists) == ("r1", "hook-secret-123", ["stolen"])
    table.apply("r1", {**rec, "enabled": False})
    assert table.current() == [boot]
    table.apply("r1", rec)
    with pytest.raises(ValueError):
        table.apply("r1", {**rec, "channel": "pigeon"})
    assert table.current() == [boot]
    table.apply("r1", rec)
    table.apply("r1", None)
    assert table.current() == [boot]
