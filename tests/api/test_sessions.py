"""Sessions end when their user does: API keys of a disabled owner, spent refresh tokens."""

from __future__ import annotations

import uuid

import pytest

from .helpers import PASSWORD, ApiEnv, wait_until

pytestmark = pytest.mark.integration


def _new_user(env: ApiEnv, role: str = "admin") -> str:
    name = f"sess-{uuid.uuid4().hex[:8]}"
    r = env.post("/api/v1/users", json={"username": name, "role": role, "password": PASSWORD})
    assert r.status_code == 201, r.text
    return name


def _login(env: ApiEnv, name: str) -> dict[str, str]:
    r = env.http.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
    assert r.status_code == 200, r.text
    tokens: dict[str, str] = r.json()
    return tokens


def _status_with_key(env: ApiEnv, key: str) -> int:
    return env.http.get("/api/v1/cameras", headers={"X-API-Key": key}).status_code


@pytest.mark.parametrize("how", ["disable", "delete"])
def test_api_key_stops_when_its_owner_is_disabled_or_deleted(api_env: ApiEnv, how: str) -> None:
    owner = _new_user(api_env)
    bearer = {"Authorization": f"Bearer {_login(api_env, owner)['access_token']}"}
    made = api_env.http.post(
        "/api/v1/api-keys", json={"name": "owned", "role": "analyst"}, headers=bearer
    )
    assert made.status_code == 201 and made.json()["owner"] == owner
    key = made.json()["api_key"]
    assert _status_with_key(api_env, key) == 200
    # a key made with that key belongs to the same user, not to the key
    chained = api_env.http.post(
        "/api/v1/api-keys",
        json={"name": "chained", "role": "viewer"},
        headers={"X-API-Key": key},
    )
    assert chained.status_code == 403  # analyst keys may not manage keys
    admin_key = api_env.http.post(
        "/api/v1/api-keys", json={"name": "owned-admin", "role": "admin"}, headers=bearer
    ).json()["api_key"]
    child = api_env.http.post(
        "/api/v1/api-keys",
        json={"name": "child", "role": "viewer"},
        headers={"X-API-Key": admin_key},
    )
    assert child.status_code == 201 and child.json()["owner"] == owner
    child_key = child.json()["api_key"]
    assert _status_with_key(api_env, child_key) == 200

    if how == "disable":
        r = api_env.http.patch(
            f"/api/v1/users/{owner}", json={"disabled": True}, headers=api_env.headers("admin")
        )
        assert r.status_code == 200
    else:
        r = api_env.http.delete(f"/api/v1/users/{owner}", headers=api_env.headers("admin"))
        assert r.status_code == 204
    for k in (key, admin_key, child_key):
        wait_until(lambda k=k: _status_with_key(api_env, k) == 401, 5, f"key refused after {how}")
    # another user's key is untouched
    assert api_env.get("/api/v1/cameras").status_code == 200


def test_refresh_token_is_rotated_and_a_spent_one_is_refused(api_env: ApiEnv) -> None:
    name = _new_user(api_env, "viewer")
    first = _login(api_env, name)
    r = api_env.http.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert r.status_code == 200
    second = r.json()
    assert second["refresh_token"] != first["refresh_token"]
    reuse = api_env.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reuse.status_code == 401 and "already used" in reuse.json()["detail"]
    # the new one works once, then it too is spent
    third = api_env.http.post(
        "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
    )
    assert third.status_code == 200
    me = api_env.http.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {third.json()['access_token']}"}
    )
    assert me.status_code == 200 and me.json()["name"] == name
    assert (
        api_env.http.post(
            "/api/v1/auth/refresh", json={"refresh_token": second["refresh_token"]}
        ).status_code
        == 401
    )


def test_live_feed_is_audited_and_closed_when_its_user_is_disabled(api_env: ApiEnv) -> None:
    import json
    import time

    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    from .helpers import audit_records

    assert api_env.state.live.assigned.wait(20)
    name = _new_user(api_env, "viewer")
    token = _login(api_env, name)["access_token"]
    ws_url = api_env.url.replace("http", "ws") + "/api/v1/live"
    with (
        connect(
            f"{ws_url}?access_token={token}&purpose=incident&camera=cam-a", open_timeout=10
        ) as ws,
        api_env.http.stream(
            "GET",
            "/api/v1/live/sse",
            params={"kinds": "alert", "purpose": "incident"},
            headers={"Authorization": f"Bearer {token}"},
        ) as sse,
    ):
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        lines = sse.iter_lines()
        assert next(lines).startswith("event: hello")

        def opened() -> list[dict[str, object]] | None:
            mine = [
                r
                for r in audit_records(api_env)
                if r["actor"] == f"user:{name}" and r["action"] == "live_open"
            ]
            return mine if len(mine) == 2 else None

        found = wait_until(opened, 15, "two live_open audit records")
        assert {r["resource"] for r in found} == {"/api/v1/live", "/api/v1/live/sse"}
        ws_rec = next(r for r in found if r["resource"] == "/api/v1/live")
        assert json.loads(str(ws_rec["query"]))["cameras"] == ["cam-a"]

        r = api_env.http.patch(
            f"/api/v1/users/{name}", json={"disabled": True}, headers=api_env.headers("admin")
        )
        assert r.status_code == 200
        disabled_at = time.monotonic()
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=10)  # keep-alives until the close
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        assert time.monotonic() - disabled_at < 5
        rest = list(lines)  # the stream ends with a "closed" event
        assert "event: closed" in rest
        assert time.monotonic() - disabled_at < 8


def test_failed_logins_are_limited_per_account_and_forwarded_for_is_ignored(
    api_env: ApiEnv,
) -> None:
    from .helpers import audit_records

    name = _new_user(api_env, "viewer")
    limit = api_env.settings.api_login_account_failures
    for i in range(limit):
        r = api_env.http.post(
            "/api/v1/auth/token",
            data={"username": name, "password": "wrong-password"},
            # a forged address per try: no proxy is trusted, so it changes nothing
            headers={"X-Forwarded-For": f"198.51.100.{i + 1}"},
        )
        assert r.status_code == 401
    right = api_env.http.post("/api/v1/auth/token", data={"username": name, "password": PASSWORD})
    assert right.status_code == 429 and int(right.headers["Retry-After"]) > 0
    # other accounts from the same address still log in
    assert (
        api_env.http.post(
            "/api/v1/auth/token", data={"username": "viewer", "password": PASSWORD}
        ).status_code
        == 200
    )
    failed = wait_until(
        lambda: [
            r
            for r in audit_records(api_env)
            if r["actor"] == f"user:{name}" and r["action"] == "login"
        ],
        10,
        "failed login audit records",
    )
    assert {r["client_ip"] for r in failed} == {"127.0.0.1"}
