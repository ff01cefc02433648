"""The API against the real local stack: every endpoint and role, search semantics, audit, live, replay."""

from __future__ import annotations

import csv
import io
import json
import time
import zipfile
from typing import Any

import httpx
import pytest
from confluent_kafka import TopicPartition

from platestream import topics as catalogue
from platestream.kafka import make_consumer
from platestream.serde import AvroSerde

from .helpers import PASSWORD, ApiEnv, produce, wait_until

pytestmark = pytest.mark.integration


def read_topic(
    env: ApiEnv, topic: catalogue.Topic, timeout: float = 10.0
) -> list[tuple[bytes | None, dict[str, Any] | None]]:
    """Every record of a topic from the beginning: (key, decoded value or None for a tombstone)."""
    serde = AvroSerde()
    name = env.settings.topic(topic.name)
    consumer = make_consumer(
        env.settings, f"api-test-read-{time.monotonic_ns()}", **{"enable.partition.eof": True}
    )
    parts = consumer.list_topics(name, timeout=10).topics[name].partitions
    consumer.assign([TopicPartition(name, p, 0) for p in parts])
    out: list[tuple[bytes | None, dict[str, Any] | None]] = []
    eof: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(eof) < len(parts) and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            eof.add(msg.partition())
            continue
        out.append((msg.key(), None if msg.value() is None else serde.decode(msg.value())))
    consumer.close()
    return out


def audit_records(env: ApiEnv) -> list[dict[str, Any]]:
    return [v for _k, v in read_topic(env, catalogue.AUDIT) if v is not None]


# ---- auth ---------------------------------------------------------------------------------------
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


# ---- search -------------------------------------------------------------------------------------
def plates_of(resp: httpx.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [e["plate"] for e in resp.json()["items"]]


def test_search_exact_prefix_wildcard(api_env: ApiEnv) -> None:
    assert plates_of(api_env.get("/api/v1/events", params={"plate": "abc-1234"})) == ["ABC1234"] * 3
    assert sorted(
        plates_of(api_env.get("/api/v1/events", params={"plate": "AB", "mode": "prefix"}))
    ) == ["AB51234", "ABC1234", "ABC1234", "ABC1234", "ABD1234"]
    assert sorted(set(plates_of(api_env.get("/api/v1/events", params={"plate": "AB?12*"})))) == [
        "AB51234",
        "ABC1234",
        "ABD1234",
    ]
    assert plates_of(api_env.get("/api/v1/events", params={"plate": "*9876"})) == ["XYZ9876"]


def test_search_fuzzy_with_confusables_sorted_by_score(api_env: ApiEnv) -> None:
    r = api_env.get(
        "/api/v1/events",
        params={"plate": "ABC1234", "mode": "fuzzy", "sort": "score", "max_distance": 1},
    )
    items = r.json()["items"]
    got = [(e["plate"], e["distance"]) for e in items]
    # exact first, then the confusable B/8 and B/5 swaps (0.4), then one ordinary substitution (1.0)
    assert got[:3] == [("ABC1234", 0.0)] * 3
    assert sorted(got[3:]) == [("A8C1234", 0.4), ("AB51234", 1.0), ("ABD1234", 1.0)] or sorted(
        got[3:]
    ) == [("A8C1234", 0.4), ("AB51234", 0.4), ("ABD1234", 1.0)]
    assert [d for _p, d in got] == sorted(d for _p, d in got)
    strict = api_env.get(
        "/api/v1/events", params={"plate": "ABC1234", "mode": "fuzzy", "max_distance": 0.5}
    )
    assert "ABD1234" not in plates_of(strict) and "A8C1234" in plates_of(strict)


def test_search_filters(api_env: ApiEnv) -> None:
    seed = api_env.seed

    def expect(**params: Any) -> list[str]:
        r = api_env.get("/api/v1/events", params={**params, "limit": 500})
        assert r.status_code == 200, r.text
        return sorted(e["event_id"] for e in r.json()["items"])

    def where(pred: Any) -> list[str]:
        return sorted(e["event_id"] for e in seed.events if pred(e))

    def ids(plate: str) -> list[str]:
        return sorted(e["event_id"] for e in seed.by_plate(plate))

    assert expect(camera=["cam-a", "cam-c"]) == where(
        lambda e: e["camera_id"] in ("cam-a", "cam-c")
    )
    assert expect(site="south") == where(lambda e: e["site"] == "south")
    assert expect(direction="leaving") == where(lambda e: e["direction"] == "leaving")
    assert expect(vehicle_type="truck") == ids("ABD1234")
    assert expect(vehicle_color="red", camera="cam-b") == where(
        lambda e: e["vehicle_color"] == "red" and e["camera_id"] == "cam-b"
    )
    assert expect(min_confidence=0.95) == where(lambda e: e["confidence"] >= 0.95 - 1e-6)
    assert expect(watchlist_only=True) == ids("XYZ9876")
    t0 = seed.base_ts
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((t0 + 20_000) / 1000)) + "Z"
    until = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime((t0 + 50_000) / 1000)) + "Z"
    assert expect(since=since, until=until) == where(lambda e: t0 + 20_000 <= e["ts"] < t0 + 50_000)


def test_search_keyset_pagination_covers_everything_once(api_env: ApiEnv) -> None:
    for sort in ("time", "score"):
        seen: list[str] = []
        cursor = None
        for _ in range(20):
            params: dict[str, Any] = {"limit": 7, "sort": sort}
            if cursor:
                params["cursor"] = cursor
            page = api_env.get("/api/v1/events", params=params).json()
            seen += [e["event_id"] for e in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                break
        assert sorted(seen) == sorted(e["event_id"] for e in api_env.seed.events), sort
    page = api_env.get("/api/v1/events", params={"limit": 5}).json()["items"]
    assert [e["ts"] for e in page] == sorted((e["ts"] for e in page), reverse=True)


def test_search_rejects_bad_input_with_reasons(api_env: ApiEnv) -> None:
    for params in (
        {"cursor": "garbage!!"},
        {"plate": "---"},
        {"limit": 0},
        {"since": "yesterday"},
        {"plate": "A%B", "mode": "wildcard"},
        {"sort": "random"},
        {"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    ):
        r = api_env.get("/api/v1/events", params=params)
        assert r.status_code == 422, (params, r.status_code, r.text)
        assert r.json()["detail"]


def test_search_results_carry_thumbnails_that_load(api_env: ApiEnv) -> None:
    item = api_env.get("/api/v1/events", params={"plate": "XYZ9876"}).json()["items"][0]
    img = httpx.get(item["thumbnail_url"])
    assert img.status_code == 200 and img.content == api_env.seed.crops[item["event_id"]]


def test_event_detail_with_reads_and_presigned_image(api_env: ApiEnv) -> None:
    ev = api_env.seed.by_plate("ABD1234")[0]
    d = api_env.get(f"/api/v1/events/{ev['event_id']}", "viewer").json()
    assert (d["plate"], d["camera_id"], d["ts"], d["site"]) == (
        "ABD1234",
        ev["camera_id"],
        ev["ts"],
        ev["site"],
    )
    assert d["reads"][0]["read_id"] == ev["read_ids"][0] and d["reads"][0]["candidates"] == [
        "ABD1230"
    ]
    assert (
        d["images"][0]["kind"] == "plate"
        and d["images"][0]["expires_in"] == api_env.settings.api_presign_ttl_s
    )
    body = httpx.get(d["images"][0]["url"]).content
    assert body == api_env.seed.crops[ev["event_id"]]
    assert "X-Amz-Expires=" in d["images"][0]["url"]
    assert api_env.get("/api/v1/events/no-such-event").status_code == 404


def test_latest_corrected_version_wins(api_env: ApiEnv) -> None:
    ev = dict(api_env.seed.by_plate("LMN0001")[0])
    produce(
        api_env.settings,
        catalogue.PLATE_EVENTS,
        "plate_event",
        [
            {
                **ev,
                "version": 1,
                "plate": "LMN0007",
                "correction_id": "c-test",
                "emitted_at": ev["emitted_at"] + 1,
            }
        ],
    )
    wait_until(
        lambda: (
            plates_of(api_env.get("/api/v1/events", params={"plate": "LMN0007"})) == ["LMN0007"]
        ),
        30,
        "the corrected version",
    )
    assert plates_of(api_env.get("/api/v1/events", params={"plate": "LMN0001"})) == []
    d = api_env.get(f"/api/v1/events/{ev['event_id']}").json()
    assert (d["plate"], d["version"]) == ("LMN0007", 1)


def test_export_csv_and_jsonl_stream_every_row(api_env: ApiEnv) -> None:
    r = api_env.get("/api/v1/events/export", "analyst", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert len(rows) == len(api_env.seed.events)
    assert {row["event_id"] for row in rows} == {e["event_id"] for e in api_env.seed.events}
    r = api_env.get(
        "/api/v1/events/export", "analyst", params={"format": "jsonl", "plate": "ABC1234"}
    )
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [x["plate"] for x in lines] == ["ABC1234"] * 3


def test_timeline_follows_the_plate_across_cameras(api_env: ApiEnv) -> None:
    tl = api_env.get("/api/v1/plates/abc1234/timeline").json()
    expected = sorted(api_env.seed.by_plate("ABC1234"), key=lambda e: e["ts"])
    assert [s["event_id"] for s in tl["stops"]] == [e["event_id"] for e in expected]
    assert tl["cameras"] == ["cam-a", "cam-b", "cam-c"] and tl["sites"] == ["north", "south"]
    assert (
        tl["stops"][0]["dwell_ms"] == expected[1]["ts"] - expected[0]["ts"]
        and tl["stops"][-1]["dwell_ms"] is None
    )


def test_stats_counts(api_env: ApiEnv) -> None:
    st = api_env.get("/api/v1/stats", params={"period": "7d", "top": 3}).json()
    events = api_env.seed.events
    assert st["passages"] == len(events)
    assert st["reads"] == len(api_env.seed.reads)
    assert st["top_plates"][0] == {"plate": "ABC1234", "passages": 3, "cameras": 3}
    per_cam = {c["camera_id"]: c for c in st["per_camera"]}
    assert per_cam["cam-a"]["passages"] == sum(1 for e in events if e["camera_id"] == "cam-a")
    assert per_cam["cam-b"]["leaving"] == sum(
        1 for e in events if e["camera_id"] == "cam-b" and e["direction"] == "leaving"
    )
    assert sum(h["passages"] for h in st["hourly"]) == len(events)
    assert st["alerts"] == {"total": 1, "by_priority": {"high": 1}}
    custom = api_env.get(
        "/api/v1/stats",
        params={
            "period": "custom",
            "since": "2001-01-01T00:00:00Z",
            "until": "2001-01-02T00:00:00Z",
        },
    ).json()
    assert custom["passages"] == 0
    assert api_env.get("/api/v1/stats", params={"period": "custom"}).status_code == 422


def test_audit_records_appear_for_search_export_and_image_view(api_env: ApiEnv) -> None:
    marker = "QRS4321"
    api_env.get(
        "/api/v1/events",
        "analyst",
        params={"plate": marker},
        headers={"X-Request-ID": "audit-req-1"},
    )
    ev = api_env.seed.by_plate(marker)[0]
    api_env.get(f"/api/v1/events/{ev['event_id']}", "viewer")
    api_env.get("/api/v1/events/export", "analyst", params={"plate": marker, "format": "jsonl"})
    api_env.state.publisher.flush(10)

    def found() -> list[dict[str, Any]]:
        return [
            a
            for a in audit_records(api_env)
            if marker in a["query"] or ev["event_id"] in a["query"]
        ]

    recs = wait_until(
        lambda: (
            (r := found())
            and {a["action"] for a in r} >= {"search", "event_view", "image_view", "export"}
            and r
        ),
        20,
        "audit records",
    )
    search = next(a for a in recs if a["action"] == "search")
    assert (search["actor"], search["role"], search["result_count"], search["status"]) == (
        "user:analyst",
        "analyst",
        1,
        200,
    )
    assert search["request_id"] == "audit-req-1" and search["resource"] == "/api/v1/events"
    assert json.loads(search["query"])["plate"] == marker
    export = next(a for a in recs if a["action"] == "export")  # before the data: no count yet
    assert export["result_count"] is None
    done = wait_until(
        lambda: next((a for a in found() if a["action"] == "export_done"), None), 20, "export_done"
    )
    assert done["result_count"] == 1
    view = next(a for a in recs if a["action"] == "image_view")
    assert view["actor"] == "user:viewer" and view["result_count"] == 1


# ---- management ---------------------------------------------------------------------------------
def test_cameras_crud_keeps_credentials_secret(api_env: ApiEnv) -> None:
    body = {
        "name": "North gate",
        "site": "north",
        "zone": "gate",
        "lat": 1.5,
        "lon": 2.5,
        "heading": 90,
        "stream_url": "rtsp://admin:hunter2@10.1.2.3:554/stream1",
        "plate_formats": ["BR_MERCOSUR"],
        "zones": {"roi": [[[0, 0], [1, 0], [1, 0.5]]], "exclusions": []},
        "detector": {"min_conf": "0.4"},
        "direction_map": {"forward": "approaching"},
    }
    r = api_env.http.put("/api/v1/cameras/cam-x1", json=body, headers=api_env.headers("admin"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["stream_url"] == "rtsp://10.1.2.3:554/stream1" and out["has_credentials"] is True
    assert "hunter2" not in r.text and "credentials" not in out
    got = api_env.get("/api/v1/cameras/cam-x1", "viewer")
    assert got.json()["zones"]["roi"][0][2] == [1.0, 0.5] and "hunter2" not in got.text
    record = [v for k, v in read_topic(api_env, catalogue.CAMERAS) if k == b"cam-x1"][-1]
    assert record["credentials_secret"] == "camera-cam-x1-stream" and "hunter2" not in json.dumps(
        record
    )
    assert json.loads(api_env.state.secrets.get(record["credentials_secret"])) == {
        "username": "admin",
        "password": "hunter2",
    }
    r = api_env.http.patch(
        "/api/v1/cameras/cam-x1",
        json={"enabled": False, "credentials": {"username": "u", "password": "p2"}},
        headers=api_env.headers("admin"),
    )
    assert r.json()["enabled"] is False and r.json()["name"] == "North gate"
    assert json.loads(api_env.state.secrets.get("camera-cam-x1-stream"))["password"] == "p2"
    assert (
        api_env.http.delete("/api/v1/cameras/cam-x1", headers=api_env.headers("admin")).status_code
        == 204
    )
    assert api_env.get("/api/v1/cameras/cam-x1").status_code == 404
    assert api_env.state.secrets.get("camera-cam-x1-stream") is None
    assert [v for k, v in read_topic(api_env, catalogue.CAMERAS) if k == b"cam-x1"][-1] is None


def test_watchlist_entries_and_csv_import(api_env: ApiEnv) -> None:
    r = api_env.post(
        "/api/v1/watchlists/entries",
        "operator",
        json={
            "list_id": "stolen",
            "pattern": "xyz-9876",
            "priority": "high",
            "reason": "stolen car",
        },
    )
    assert (
        r.status_code == 201
        and r.json()["pattern"] == "XYZ9876"
        and r.json()["owner"] == "operator"
    )
    entry_id = r.json()["entry_id"]
    text = "pattern,match_type,priority,reason,camera_ids\nAB?12*,wildcard,low,test,cam-a;cam-b\nBAD(,regex,low,,\nKJH5555,,critical,,\n"
    r = api_env.http.post(
        "/api/v1/watchlists/vip/import",
        content=text,
        headers={**api_env.headers("operator"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["imported"] == 2 and r.json()["errors"][0]["line"] == 3
    entries = api_env.get("/api/v1/watchlists/entries", "analyst", params={"list_id": "vip"}).json()
    assert sorted((e["pattern"], e["match_type"], e["camera_ids"]) for e in entries) == [
        ("AB?12*", "wildcard", ["cam-a", "cam-b"]),
        ("KJH5555", "exact", []),
    ]
    lists = {w["list_id"]: w["entries"] for w in api_env.get("/api/v1/watchlists").json()}
    assert lists["vip"] == 2 and lists["stolen"] >= 1
    on_topic = {k.decode(): v for k, v in read_topic(api_env, catalogue.BOLO)}
    assert on_topic[entry_id]["pattern"] == "XYZ9876"
    assert (
        api_env.http.delete(
            f"/api/v1/watchlists/entries/{entry_id}", headers=api_env.headers("operator")
        ).status_code
        == 204
    )
    assert entry_id not in {e["entry_id"] for e in api_env.get("/api/v1/watchlists/entries").json()}
    assert {k.decode(): v for k, v in read_topic(api_env, catalogue.BOLO)}[entry_id] is None
    r = api_env.http.post(
        "/api/v1/watchlists/vip/import",
        content="plate\nX\n",
        headers={**api_env.headers("operator"), "Content-Type": "text/csv"},
    )
    assert r.status_code == 422


def test_review_queue_and_corrections(api_env: ApiEnv) -> None:
    threshold = api_env.settings.api_review_threshold
    corrected = set(api_env.state.corrected)
    low = sorted(
        e["plate"]
        for e in api_env.seed.events
        if e["confidence"] < threshold and e["event_id"] not in corrected
    )
    queue = api_env.get("/api/v1/review", "operator").json()
    assert sorted(e["plate"] for e in queue["items"]) == low
    target = api_env.seed.by_plate("KJH5555")[0]
    r = api_env.post(
        f"/api/v1/events/{target['event_id']}/corrections",
        "operator",
        json={"action": "correct", "plate": "kjh 5556", "reason": "OCR"},
    )
    assert r.status_code == 201, r.text
    assert (r.json()["plate"], r.json()["previous_plate"], r.json()["user"]) == (
        "KJH5556",
        "KJH5555",
        "operator",
    )
    queue = api_env.get("/api/v1/review", "operator").json()
    assert "KJH5555" not in [e["plate"] for e in queue["items"]]
    rec = [
        v for k, v in read_topic(api_env, catalogue.CORRECTIONS) if k == target["event_id"].encode()
    ][-1]
    assert (
        rec["action"] == "correct" and rec["plate"] == "KJH5556" and rec["event_offset"] is not None
    )
    assert (
        api_env.post(
            f"/api/v1/events/{target['event_id']}/corrections", "viewer", json={"action": "confirm"}
        ).status_code
        == 403
    )
    assert (
        api_env.post(
            "/api/v1/events/nope/corrections", "operator", json={"action": "confirm"}
        ).status_code
        == 404
    )
    assert (
        api_env.post(
            f"/api/v1/events/{target['event_id']}/corrections",
            "operator",
            json={"action": "correct"},
        ).status_code
        == 422
    )


def test_training_export_zip_in_benchmark_format(api_env: ApiEnv) -> None:
    target = api_env.seed.by_plate("AB51234")[0]
    assert (
        api_env.post(
            f"/api/v1/events/{target['event_id']}/corrections",
            "operator",
            json={"action": "correct", "plate": "AB51235"},
        ).status_code
        == 201
    )

    def export() -> zipfile.ZipFile | None:
        r = api_env.get("/api/v1/training/export", "operator")
        z = zipfile.ZipFile(io.BytesIO(r.content))
        return z if f"images/{target['event_id']}.jpg" in z.namelist() else None

    z = wait_until(export, 30, "the correction to reach ClickHouse (sink)", interval=0.5)
    line = z.read(f"images/{target['event_id']}.txt").decode().strip().split("\t")
    img = z.read(f"images/{target['event_id']}.jpg")
    assert img == api_env.seed.crops[target["event_id"]]
    from services.api.routes.training import image_size

    w, h = image_size(img)
    assert line == [f"{target['event_id']}.jpg", "0", "0", str(w), str(h), "AB51235"]
    assert "\t".join(line) in z.read("labels.txt").decode()


def test_alerts_list_and_acknowledge(api_env: ApiEnv) -> None:
    alerts = api_env.get("/api/v1/alerts", "viewer").json()
    assert [a["plate"] for a in alerts] == ["XYZ9876"] and alerts[0]["ack"] is None
    alert_id = alerts[0]["alert_id"]
    assert api_env.post(f"/api/v1/alerts/{alert_id}/ack", "viewer", json={}).status_code == 403
    r = api_env.post(f"/api/v1/alerts/{alert_id}/ack", "operator", json={"note": "patrol sent"})
    assert r.status_code == 201
    alerts = api_env.get("/api/v1/alerts", "analyst").json()
    assert alerts[0]["ack"]["user"] == "operator" and alerts[0]["ack"]["note"] == "patrol sent"
    assert api_env.get("/api/v1/alerts", params={"unacked_only": True}).json() == []
    assert (
        next(v for k, v in read_topic(api_env, catalogue.ALERT_ACKS) if k == alert_id.encode())[
            "note"
        ]
        == "patrol sent"
    )
    assert api_env.post("/api/v1/alerts/unknown-alert/ack", "operator", json={}).status_code == 404


# ---- replay -------------------------------------------------------------------------------------
def test_replay_republishes_events_in_order(api_env: ApiEnv) -> None:
    seed = api_env.seed
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seed.base_ts / 1000 - 1))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seed.base_ts / 1000 + 3600))
    r = api_env.post(
        "/api/v1/replay",
        "analyst",
        json={"since": since, "until": until, "cameras": ["cam-a", "cam-b"]},
    )
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    job = wait_until(
        lambda: (
            (j := api_env.get(f"/api/v1/replay/{job_id}", "analyst").json())["state"]
            in ("done", "failed")
            and j
        ),
        60,
        "the replay",
    )
    expected = [e for e in seed.events if e["camera_id"] in ("cam-a", "cam-b")]
    assert (
        job["state"] == "done"
        and job["total"] == len(expected)
        and job["published"] == len(expected)
    ), job
    replayed = [v for _k, v in read_topic(api_env, catalogue.REPLAY)]
    assert sorted(v["event_id"] for v in replayed) == sorted(e["event_id"] for e in expected)
    # in event-time order (one partition per camera key keeps per-camera order; globally by ts when merged)
    for cam in ("cam-a", "cam-b"):
        ts = [v["ts"] for v in replayed if v["camera_id"] == cam]
        assert ts == sorted(ts)
    with api_env.http.stream(
        "GET", f"/api/v1/replay/{job_id}/stream", headers=api_env.headers("analyst")
    ) as s:
        first = next(ln for ln in s.iter_lines() if ln.startswith("data:"))
    assert json.loads(first[5:])["state"] == "done"
    assert (
        api_env.post("/api/v1/replay", "viewer", json={"since": since, "until": until}).status_code
        == 403
    )
    bad = api_env.post(
        "/api/v1/replay",
        "analyst",
        json={"since": since, "until": until, "target_topic": "anpr.alerts.v1"},
    )
    assert bad.status_code == 422


# ---- live ---------------------------------------------------------------------------------------
def test_live_websocket_streams_new_events_filtered_by_camera(api_env: ApiEnv) -> None:
    from websockets.sync.client import connect

    assert api_env.state.live.assigned.wait(20)
    ws_url = api_env.url.replace("http", "ws") + "/api/v1/live"
    ev = dict(api_env.seed.events[0])
    with (
        connect(
            f"{ws_url}?access_token={api_env.tokens['viewer']}&purpose=incident&camera=cam-live",
            open_timeout=10,
        ) as ws,
        connect(
            f"{ws_url}?access_token={api_env.tokens['viewer']}&purpose=incident&camera=cam-other",
            open_timeout=10,
        ) as other,
    ):
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        assert json.loads(other.recv(timeout=10))["type"] == "hello"
        live_ev = {
            **ev,
            "event_id": "live-1",
            "camera_id": "cam-live",
            "plate": "LIV3001",
            "variants": ["LIV3001"],  # not the seed's: its plate is another test's subject
            "ts": int(time.time() * 1000),
        }
        produce(api_env.settings, catalogue.PLATE_EVENTS, "plate_event", [live_ev])
        msg = json.loads(ws.recv(timeout=20))
        assert (
            msg["type"] == "event"
            and msg["data"]["event_id"] == "live-1"
            and msg["data"]["plate"] == "LIV3001"
        )
        assert "best_crop" not in msg["data"]
        with pytest.raises(TimeoutError):
            other.recv(timeout=1.5)
    from websockets.exceptions import ConnectionClosed

    with (
        connect(f"{ws_url}?api_key=nope", open_timeout=10) as bad,
        pytest.raises(ConnectionClosed) as closed,
    ):
        bad.recv(timeout=5)
    assert closed.value.rcvd.code == 4401
    with (
        connect(f"{ws_url}?access_token={api_env.tokens['device']}", open_timeout=10) as dev,
        pytest.raises(ConnectionClosed) as closed,
    ):
        dev.recv(timeout=5)
    assert closed.value.rcvd.code == 4403


def test_live_sse_streams_alerts(api_env: ApiEnv) -> None:
    assert api_env.state.live.assigned.wait(20)
    alert = {**api_env.seed.alerts[0], "alert_id": "live-alert-1", "ts": int(time.time() * 1000)}
    lines: list[str] = []
    with api_env.http.stream(
        "GET",
        "/api/v1/live/sse",
        params={"kinds": "alert", "max_messages": 1},
        headers=api_env.headers("viewer"),
    ) as s:
        it = s.iter_lines()
        lines.append(next(it))  # the hello arrives once the subscription exists
        produce(api_env.settings, catalogue.ALERTS, "bolo_alert", [alert])
        lines += list(it)
    data = [json.loads(ln[5:]) for ln in lines if ln.startswith("data:")]
    assert data[-1]["type"] == "alert" and data[-1]["data"]["alert_id"] == "live-alert-1"


# ---- operations ---------------------------------------------------------------------------------
def test_health_ready_metrics_request_id(api_env: ApiEnv) -> None:
    assert api_env.http.get("/health").json() == {"status": "ok"}
    ready = api_env.http.get("/ready")
    assert ready.status_code == 200 and all(c["ok"] for c in ready.json()["checks"].values())
    r = api_env.get("/api/v1/plates/XYZ9876/timeline", headers={"X-Request-ID": "rid-123"})
    assert r.headers["X-Request-ID"] == "rid-123"
    assert api_env.http.get("/health").headers["X-Request-ID"]
    metrics = api_env.http.get("/metrics").text
    assert 'route="/api/v1/plates/{plate}/timeline"' in metrics
    for e in api_env.seed.events:
        assert e["plate"] not in metrics


def test_console_is_served(api_env: ApiEnv) -> None:
    r = api_env.http.get("/", follow_redirects=True)
    assert r.status_code == 200 and "platestream console" in r.text
    assert api_env.http.get("/ui/app.js").status_code == 200
    spec = api_env.http.get("/api/v1/openapi.json").json()
    assert (
        "/api/v1/events" in spec["paths"]
        and "OAuth2PasswordBearer" in spec["components"]["securitySchemes"]
    )


def test_replay_at_original_pace_keeps_the_gaps(api_env: ApiEnv) -> None:
    seed = api_env.seed
    cam = [e for e in seed.events if e["camera_id"] == "cam-c"]
    span_s = (max(e["ts"] for e in cam) - min(e["ts"] for e in cam)) / 1000
    speed = 60.0
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seed.base_ts / 1000 - 1))
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seed.base_ts / 1000 + 3600))
    r = api_env.post(
        "/api/v1/replay",
        "analyst",
        json={
            "since": since,
            "until": until,
            "cameras": ["cam-c"],
            "pace": "original",
            "speed": speed,
        },
    )
    job_id = r.json()["id"]
    job = wait_until(
        lambda: (
            (j := api_env.get(f"/api/v1/replay/{job_id}", "analyst").json())["state"]
            in ("done", "failed")
            and j
        ),
        60,
        "the paced replay",
    )
    assert job["state"] == "done" and job["published"] == len(cam), job
    took_s = (job["finished_at"] - job["created_at"]) / 1000
    assert took_s >= span_s / speed * 0.9, (took_s, span_s / speed)
