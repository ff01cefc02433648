"""Authentication and authorisation through the API on the live stack: login, refresh, wrong
and missing credentials, expired and forged tokens, a password reset that kills old tokens,
user and API-key administration (a device key cannot search), the role matrix of every
endpoint, a viewer cannot export, the per-user rate limit answers 429."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from platestream import topics as catalogue

from .helpers import PASSWORD, ApiEnv, read_topic

pytestmark = pytest.mark.integration


def test_login_me_and_refresh(api_env: ApiEnv) -> None:
    me = api_env.get("/api/v1/auth/me", "analyst").json()
    assert me["name"] == "analyst" and me["role"] == "analyst" and "export" in me["permissions"]
    tokens = api_env.http.post(
        "/api/v1/auth/token", data={"username": "viewer", "password": PASSWORD}
    ).json()
    fresh = api_env.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert fresh.status_code == 200
    ok = api_env.http.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {fresh.json()['access_token']}"}
    )
    assert ok.json()["role"] == "viewer"
    # an access token is not a refresh token, and vice versa
    assert (
        api_env.http.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["access_token"]}
        ).status_code
        == 401
    )
    bad = api_env.http.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {tokens['refresh_token']}"}
    )
    assert bad.status_code == 401


def test_wrong_password_and_missing_credentials_are_refused(api_env: ApiEnv) -> None:
    r = api_env.http.post(
        "/api/v1/auth/token", data={"username": "analyst", "password": "nope-nope-nope"}
    )
    assert r.status_code == 401
    assert (
        api_env.http.post(
            "/api/v1/auth/token", data={"username": "ghost", "password": "whatever1"}
        ).status_code
        == 401
    )
    assert api_env.http.get("/api/v1/events").status_code == 401
    assert (
        api_env.http.get(
            "/api/v1/events", headers={"Authorization": "Bearer not-a-jwt"}
        ).status_code
        == 401
    )


def test_expired_token_is_refused(api_env: ApiEnv) -> None:
    from services.api.auth import password_version

    user = api_env.state.accounts.users.get("analyst")
    issuer = api_env.state.accounts.issuer
    expired = issuer.issue(
        "analyst",
        "analyst",
        password_version(user["password_hash"]),
        now_s=int(time.time()) - issuer.access_ttl_s - 5,
    )
    r = api_env.http.get("/api/v1/events", headers={"Authorization": f"Bearer {expired}"})
    assert r.status_code == 401 and "expired" in r.json()["detail"]
    forged = issuer.issue("analyst", "admin", "wrong-pwv")
    assert (
        api_env.http.get("/api/v1/users", headers={"Authorization": f"Bearer {forged}"}).status_code
        == 401
    )


def test_password_reset_invalidates_tokens_and_users_admin(api_env: ApiEnv) -> None:
    r = api_env.post(
        "/api/v1/users", json={"username": "temp1", "role": "viewer", "password": "first-password"}
    )
    assert r.status_code == 201
    tok = api_env.http.post(
        "/api/v1/auth/token", data={"username": "temp1", "password": "first-password"}
    ).json()
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    assert api_env.http.get("/api/v1/auth/me", headers=h).status_code == 200
    patched = api_env.http.patch(
        "/api/v1/users/temp1",
        json={"password": "second-password"},
        headers=api_env.headers("admin"),
    )
    assert patched.status_code == 200
    assert api_env.http.get("/api/v1/auth/me", headers=h).status_code == 401
    assert (
        api_env.http.post(
            "/api/v1/auth/refresh", json={"refresh_token": tok["refresh_token"]}
        ).status_code
        == 401
    )
    assert (
        api_env.http.post(
            "/api/v1/auth/token", data={"username": "temp1", "password": "second-password"}
        ).status_code
        == 200
    )
    users = {u["username"]: u for u in api_env.get("/api/v1/users").json()}
    assert users["temp1"]["role"] == "viewer" and "password_hash" not in users["temp1"]
    assert (
        api_env.http.delete("/api/v1/users/temp1", headers=api_env.headers("admin")).status_code
        == 204
    )
    assert (
        api_env.http.post(
            "/api/v1/auth/token", data={"username": "temp1", "password": "second-password"}
        ).status_code
        == 401
    )
    events = [v for k, v in read_topic(api_env, catalogue.USERS) if k == b"temp1"]
    assert [e["action"] if e else None for e in events] == ["created", "password_reset", None]
    assert all("second-password" not in json.dumps(e) for e in events if e)


def test_api_keys_device_cannot_search(api_env: ApiEnv) -> None:
    r = api_env.post(
        "/api/v1/api-keys", json={"name": "gate-camera", "role": "device", "camera_ids": ["cam-a"]}
    )
    assert r.status_code == 201
    key, key_id = r.json()["api_key"], r.json()["key_id"]
    h = {"X-API-Key": key}
    assert api_env.http.get("/api/v1/auth/me", headers=h).json() == {
        "name": "gate-camera",
        "role": "device",
        "kind": "api_key",
        "permissions": ["ingest"],
    }
    assert api_env.http.get("/api/v1/events", headers=h).status_code == 403
    assert api_env.http.get("/api/v1/live/sse", headers=h).status_code == 403
    listed = api_env.get("/api/v1/api-keys").json()
    assert key_id in {k["key_id"] for k in listed} and all(
        "key_hash" not in k and "api_key" not in k for k in listed
    )
    stored = [v for k, v in read_topic(api_env, catalogue.API_KEYS) if k == key_id.encode()]
    assert stored[0]["key_hash"] != key and key.split("_", 2)[2] not in json.dumps(stored)
    assert (
        api_env.http.delete(
            f"/api/v1/api-keys/{key_id}", headers=api_env.headers("admin")
        ).status_code
        == 204
    )
    assert api_env.http.get("/api/v1/auth/me", headers=h).status_code == 401
    assert (
        api_env.http.get("/api/v1/auth/me", headers={"X-API-Key": key[:-2] + "xx"}).status_code
        == 401
    )


# role -> expected status for each (method, path, body); 2xx means allowed
MATRIX: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("GET", "/api/v1/events?plate=ABC1234", None, {"admin", "operator", "analyst", "viewer"}),
    ("GET", "/api/v1/events/export?plate=ABC1234", None, {"admin", "analyst"}),
    ("GET", "/api/v1/plates/ABC1234/timeline", None, {"admin", "operator", "analyst", "viewer"}),
    ("GET", "/api/v1/stats?period=7d", None, {"admin", "operator", "analyst", "viewer"}),
    ("GET", "/api/v1/alerts", None, {"admin", "operator", "analyst", "viewer"}),
    ("GET", "/api/v1/review", None, {"admin", "operator"}),
    ("GET", "/api/v1/replay", None, {"admin", "analyst"}),
    ("GET", "/api/v1/watchlists", None, {"admin", "operator", "analyst"}),
    (
        "POST",
        "/api/v1/watchlists/entries",
        {"list_id": "matrix", "pattern": "MAT1234"},
        {"admin", "operator"},
    ),
    ("GET", "/api/v1/cameras", None, {"admin", "operator", "analyst", "viewer"}),
    ("PUT", "/api/v1/cameras/cam-matrix", {"name": "m"}, {"admin"}),
    ("GET", "/api/v1/users", None, {"admin"}),
    ("GET", "/api/v1/api-keys", None, {"admin"}),
    ("GET", "/api/v1/training/export", None, {"admin", "operator"}),
    ("GET", "/api/v1/auth/me", None, {"admin", "operator", "analyst", "viewer", "device"}),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"),
    MATRIX,
    ids=[f"{m} {p.split('?')[0]}" for m, p, _b, _a in MATRIX],
)
def test_role_matrix(
    api_env: ApiEnv, method: str, path: str, body: dict[str, Any] | None, allowed: set[str]
) -> None:
    got = {}
    for role in ("admin", "operator", "analyst", "viewer", "device"):
        r = api_env.http.request(method, path, headers=api_env.headers(role), json=body)
        got[role] = r.status_code
    assert {r for r, s in got.items() if s < 300} == allowed, got
    assert all(s == 403 for r, s in got.items() if r not in allowed), got


def test_viewer_cannot_export(api_env: ApiEnv) -> None:
    r = api_env.get("/api/v1/events/export?format=jsonl", "viewer")
    assert r.status_code == 403 and "export" in r.json()["detail"]


def test_rate_limit_answers_429(api_env: ApiEnv) -> None:
    from services.api.ratelimit import RateLimiter

    state = api_env.state
    original = state.limiter
    state.limiter = RateLimiter(0.5, 3)
    try:
        codes = [api_env.get("/api/v1/auth/me", "viewer").status_code for _ in range(5)]
        other = api_env.get("/api/v1/auth/me", "analyst").status_code  # buckets are per user
        last = api_env.get("/api/v1/auth/me", "viewer")
    finally:
        state.limiter = original
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429], codes
    assert other == 200
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1
