"""A stated purpose on every view of plate data (issue 17 item 5): the live feed (WebSocket and
SSE), alerts, the review queue and corrections, the training export and the top plates of the
statistics; refused with a 422 naming the field without one, and carried by the audit records."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from .helpers import ApiEnv, audit_records, wait_until

pytestmark = pytest.mark.integration


def _bare(env: ApiEnv, role: str = "admin") -> dict[str, str]:
    """Headers without the purpose the test helpers add."""
    return {"Authorization": f"Bearer {env.tokens[role]}"}


def _case() -> str:
    return f"CASE-{uuid.uuid4().hex[:10]}"


def _records_of_case(env: ApiEnv, case_id: str, count: int) -> list[dict[str, Any]]:
    def found() -> list[dict[str, Any]] | None:
        mine = [r for r in audit_records(env) if r["case_id"] == case_id]
        return mine if len(mine) >= count else None

    recs: list[dict[str, Any]] = wait_until(found, 20, f"{count} audit record(s) of {case_id}")
    return recs


VIEWS = [
    ("GET", "/api/v1/alerts", {}, "operator"),
    ("GET", "/api/v1/review", {}, "operator"),
    (
        "POST",
        "/api/v1/events/no-such-event/corrections",
        {"json": {"action": "confirm"}},
        "operator",
    ),
    ("GET", "/api/v1/training/export", {}, "operator"),
    ("GET", "/api/v1/stats", {"params": {"period": "7d"}}, "viewer"),
    ("GET", "/api/v1/live/sse", {"params": {"max_messages": 1}}, "viewer"),
]


@pytest.mark.parametrize(
    ("method", "path", "kw", "role"), VIEWS, ids=[f"{m} {p}" for m, p, _k, _r in VIEWS]
)
def test_views_of_plates_need_a_purpose(
    api_env: ApiEnv, method: str, path: str, kw: dict[str, Any], role: str
) -> None:
    r = api_env.http.request(method, path, headers=_bare(api_env, role), **kw)
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["loc"] == ["query", "purpose"]
    # a role without the permission is still refused with 403 first
    assert (
        api_env.http.request(method, path, headers=_bare(api_env, "device"), **kw).status_code
        == 403
    )


def test_alerts_review_training_and_stats_record_the_purpose(api_env: ApiEnv) -> None:
    case = _case()
    why = {"purpose": "incident", "case_id": case}
    alerts = api_env.http.get("/api/v1/alerts", params=why, headers=_bare(api_env, "viewer"))
    assert alerts.status_code == 200 and "XYZ9876" in [a["plate"] for a in alerts.json()]
    review = api_env.http.get(
        "/api/v1/review",
        headers={**_bare(api_env, "operator"), "X-Purpose": "incident", "X-Case-Id": case},
    )
    assert review.status_code == 200 and "QRS4321" in [e["plate"] for e in review.json()["items"]]
    unknown = api_env.http.post(  # past the purpose check: the event is looked up, and missing
        "/api/v1/events/no-such-event/corrections",
        params=why,
        json={"action": "confirm"},
        headers=_bare(api_env, "operator"),
    )
    assert unknown.status_code == 404
    training = api_env.http.get(
        "/api/v1/training/export", params=why, headers=_bare(api_env, "operator")
    )
    assert training.status_code == 200 and training.content[:2] == b"PK"
    stats = api_env.http.get(
        "/api/v1/stats", params={**why, "period": "7d", "top": 3}, headers=_bare(api_env, "viewer")
    )
    assert stats.status_code == 200 and stats.json()["top_plates"][0]["plate"] == "ABC1234"
    recs = _records_of_case(api_env, case, 4)
    by_action = {r["action"]: r for r in recs}
    assert {"alerts", "review", "training_export", "stats"} <= set(by_action)
    for action in ("alerts", "review", "training_export", "stats"):
        rec = by_action[action]
        assert (rec["purpose"], rec["case_id"]) == ("incident", case), rec
        assert json.loads(rec["query"])["purpose"] == "incident"


def test_stats_aggregates_without_plates_need_no_purpose(api_env: ApiEnv) -> None:
    r = api_env.http.get(
        "/api/v1/stats", params={"period": "7d", "top": 0}, headers=_bare(api_env, "viewer")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["top_plates"] == [] and body["passages"] >= len(api_env.seed.events)
    assert {c["camera_id"] for c in body["per_camera"]} >= {"cam-a", "cam-b", "cam-c"}
    # no plate anywhere in the answer
    text = r.text
    assert not any(e["plate"] in text for e in api_env.seed.events)


def test_live_sse_records_the_purpose_when_it_opens(api_env: ApiEnv) -> None:
    assert api_env.state.live.assigned.wait(20)
    case = _case()
    with api_env.http.stream(
        "GET",
        "/api/v1/live/sse",
        params={"kinds": "alert", "purpose": "watchlist_check", "case_id": case},
        headers=_bare(api_env, "viewer"),
    ) as s:
        assert s.status_code == 200
        assert next(s.iter_lines()).startswith("event: hello")
        (rec,) = _records_of_case(api_env, case, 1)
    assert (rec["action"], rec["resource"]) == ("live_open", "/api/v1/live/sse")
    assert rec["purpose"] == "watchlist_check" and rec["actor"] == "user:viewer"


def test_live_websocket_is_closed_without_a_purpose_and_audited_with_one(api_env: ApiEnv) -> None:
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    assert api_env.state.live.assigned.wait(20)
    ws_url = api_env.url.replace("http", "ws") + "/api/v1/live"
    token = api_env.tokens["viewer"]
    with (
        connect(f"{ws_url}?access_token={token}", open_timeout=10) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4422
    assert closed.value.rcvd.reason.startswith("purpose: state why")
    with (
        connect(f"{ws_url}?access_token={token}&purpose=nosy", open_timeout=10) as ws,
        pytest.raises(ConnectionClosed) as closed,
    ):
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4422
    assert "must be one of" in closed.value.rcvd.reason
    case = _case()
    with connect(
        f"{ws_url}?access_token={token}&purpose=incident&case_id={case}&camera=cam-a",
        open_timeout=10,
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        (rec,) = _records_of_case(api_env, case, 1)
    assert (rec["action"], rec["resource"], rec["purpose"]) == (
        "live_open",
        "/api/v1/live",
        "incident",
    )
    assert json.loads(rec["query"])["cameras"] == ["cam-a"]
    # the header form works for clients that can set headers on a WebSocket
    with connect(
        f"{ws_url}?access_token={token}",
        additional_headers={"X-Purpose": "audit"},
        open_timeout=10,
    ) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"


def test_a_role_the_deployment_exempts_follows_the_live_feed_without_one(api_env: ApiEnv) -> None:
    from websockets.sync.client import connect

    assert api_env.state.live.assigned.wait(20)
    state = api_env.state
    before = state.settings
    state.settings = before.model_copy(update={"api_purpose_roles": ["analyst"]})
    try:
        url = api_env.url.replace("http", "ws") + "/api/v1/live"
        with connect(f"{url}?access_token={api_env.tokens['viewer']}", open_timeout=10) as ws:
            assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        alerts = api_env.http.get("/api/v1/alerts", headers=_bare(api_env, "viewer"))
        refused = api_env.http.get("/api/v1/alerts", headers=_bare(api_env, "analyst"))
    finally:
        state.settings = before
    assert alerts.status_code == 200 and refused.status_code == 422
