"""A reason for every search (issue 17): searches, exports, views, timelines and replays state a
purpose, refused with a 422 naming the field without one, and the audit trail records it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi import HTTPException

from services.api.purpose import Purpose, check_purpose

from .helpers import ApiEnv, audit_records, log_in, wait_until

ALLOWED = ["investigation", "incident"]


# ---- pure logic --------------------------------------------------------------------------------
def _refusal(**kw: object) -> tuple[int, list[dict[str, object]]]:
    with pytest.raises(HTTPException) as info:
        check_purpose(**kw)  # type: ignore[arg-type]
    return info.value.status_code, info.value.detail


def test_missing_purpose_is_refused_naming_the_field() -> None:
    code, detail = _refusal(purpose=None, case_id=None, allowed=ALLOWED, required=True)
    assert code == 422 and detail[0]["loc"] == ["query", "purpose"]
    assert "investigation, incident" in str(detail[0]["msg"])
    code, detail = _refusal(purpose="  ", case_id=None, allowed=ALLOWED, required=True)
    assert detail[0]["loc"] == ["query", "purpose"]


def test_unknown_purpose_and_bad_case_are_refused() -> None:
    _code, detail = _refusal(purpose="curiosity", case_id=None, allowed=ALLOWED, required=False)
    assert detail[0]["loc"] == ["query", "purpose"] and "must be one of" in str(detail[0]["msg"])
    _code, detail = _refusal(purpose="incident", case_id="x'; DROP", allowed=ALLOWED, required=True)
    assert detail[0]["loc"] == ["query", "case_id"]
    _code, detail = _refusal(purpose=None, case_id="CASE-1", allowed=ALLOWED, required=False)
    assert detail[0]["loc"] == ["query", "purpose"]


def test_purpose_optional_when_not_required_and_kept_when_given() -> None:
    assert check_purpose(None, None, allowed=ALLOWED, required=False) is None
    assert check_purpose("incident", " 2026/0042 ", allowed=ALLOWED, required=True) == Purpose(
        "incident", "2026/0042"
    )


# ---- against the live API ----------------------------------------------------------------------
def _bare(env: ApiEnv, role: str = "admin") -> dict[str, str]:
    """Headers without the purpose the test helpers add."""
    return {"Authorization": f"Bearer {env.tokens[role]}"}


@pytest.mark.integration
def test_every_personal_data_route_needs_a_purpose(api_env: ApiEnv) -> None:
    ev = api_env.seed.by_plate("ABC1234")[0]
    now = datetime.now(UTC)
    calls = [
        ("GET", "/api/v1/events", {"params": {"plate": "ABC1234"}}),
        ("GET", "/api/v1/events/export", {"params": {"plate": "ABC1234"}}),
        ("GET", f"/api/v1/events/{ev['event_id']}", {}),
        ("GET", "/api/v1/plates/ABC1234/timeline", {}),
        (
            "POST",
            "/api/v1/replay",
            {"json": {"since": (now - timedelta(hours=2)).isoformat(), "until": now.isoformat()}},
        ),
        ("GET", "/api/v1/privacy/subject-access", {"params": {"plate": "ABC1234"}}),
    ]
    for method, path, kw in calls:
        r = api_env.http.request(method, path, headers=_bare(api_env), **kw)
        assert r.status_code == 422, (path, r.status_code, r.text)
        assert r.json()["detail"][0]["loc"] == ["query", "purpose"], path
    # unauthenticated is still 401 first, and a role without the permission still 403
    assert api_env.http.get("/api/v1/events").status_code == 401
    r = api_env.http.get("/api/v1/events/export", headers=_bare(api_env, "viewer"))
    assert r.status_code == 403


@pytest.mark.integration
def test_the_purpose_and_case_are_in_the_audit_record_and_clickhouse(api_env: ApiEnv) -> None:
    rid = f"purpose-{uuid.uuid4().hex[:8]}"
    r = api_env.http.get(
        "/api/v1/events",
        params={"plate": "ABC1234", "purpose": "incident", "case_id": "CASE-2026/17"},
        headers={**_bare(api_env, "analyst"), "X-Request-ID": rid},
    )
    assert r.status_code == 200 and r.json()["items"]
    # the header form, as the console sends it, on an event view (two records: event, images)
    ev = r.json()["items"][0]
    view = api_env.http.get(
        f"/api/v1/events/{ev['event_id']}",
        headers={**_bare(api_env, "analyst"), "X-Purpose": "audit", "X-Request-ID": rid + "v"},
    )
    assert view.status_code == 200

    def mine() -> list[dict[str, object]] | None:
        found = [x for x in audit_records(api_env) if x["request_id"] in (rid, rid + "v")]
        return found if len(found) >= 3 else None

    recs = wait_until(mine, 20, "the audit records")
    search = next(x for x in recs if x["action"] == "search")
    assert (search["purpose"], search["case_id"]) == ("incident", "CASE-2026/17")
    assert json.loads(search["query"])["purpose"] == "incident"
    assert {x["action"]: x["purpose"] for x in recs if x["request_id"] == rid + "v"} == {
        "event_view": "audit",
        "image_view": "audit",
    }
    # projected by the sink: "who looked, and why" is one query in ClickHouse
    ch = api_env.state.clickhouse
    row = wait_until(
        lambda: (
            ch.query(
                "SELECT actor, JSONExtractString(query, 'purpose'), JSONExtractString(query, 'case_id') "
                "FROM audit_log WHERE request_id = {rid:String} AND action = 'search'",
                parameters={"rid": rid},
            ).result_rows
        ),
        30,
        "the audit row in ClickHouse",
    )
    assert row[0] == ("user:analyst", "incident", "CASE-2026/17")


@pytest.mark.integration
def test_a_deployment_can_turn_the_requirement_off_per_role(api_env: ApiEnv) -> None:
    state = api_env.state
    before = state.settings
    state.settings = before.model_copy(update={"api_purpose_roles": ["analyst"]})
    try:
        viewer = api_env.http.get(
            "/api/v1/events", params={"plate": "ABC1234"}, headers=_bare(api_env, "viewer")
        )
        analyst = api_env.http.get(
            "/api/v1/events", params={"plate": "ABC1234"}, headers=_bare(api_env, "analyst")
        )
        info = api_env.http.get("/api/v1/privacy/purposes", headers=_bare(api_env, "viewer"))
        wrong = api_env.http.get(
            "/api/v1/events",
            params={"plate": "ABC1234", "purpose": "nosy"},
            headers=_bare(api_env, "viewer"),
        )
    finally:
        state.settings = before
    assert viewer.status_code == 200 and analyst.status_code == 422
    assert info.json() == {"purposes": list(before.api_purposes), "required": False}
    assert wrong.status_code == 422  # a stated purpose is still checked


@pytest.mark.integration
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium not installed")
def test_the_console_asks_for_a_purpose_and_sends_it_with_every_view(api_env: ApiEnv) -> None:
    """An empty purpose stops the search in the browser; the chosen one (and the case) is
    remembered for the session and reaches the audit records of the search and the event view."""
    from .cdp import Browser

    case = f"CONSOLE-{uuid.uuid4().hex[:6]}"
    browser = Browser()
    try:
        log_in(browser, api_env.url, "analyst")
        browser.wait_for("document.querySelector('#q-purpose')?.dataset.ready === '1'")
        assert browser.eval("document.querySelector('#q-purpose').required") is True
        browser.eval(
            "document.querySelector('#q-plate').value = 'XYZ9876';"
            " document.querySelector('#search-submit').click(); true"
        )
        assert browser.eval("document.querySelector('#q-purpose').matches(':invalid')") is True
        assert browser.eval("document.querySelectorAll('#results tbody tr').length") == 0
        browser.eval(f"""
            const s = document.querySelector('#q-purpose'); s.value = 'incident';
            s.dispatchEvent(new Event('change'));
            const c = document.querySelector('#q-case'); c.value = {case!r};
            c.dispatchEvent(new Event('change'));
            document.querySelector('#search-submit').click(); true""")
        assert browser.wait_for("document.querySelectorAll('#results tbody tr').length") == 1
        browser.eval("document.querySelector('#results tbody tr').click(); true")
        browser.wait_for("!!document.querySelector('#ev-fields dt')")
        # back on the search page the choice is still there (remembered for the session)
        browser.eval("location.hash = '#search'; true")
        browser.wait_for("document.querySelector('#q-purpose')?.dataset.ready === '1'")
        kept = browser.eval(
            "[document.querySelector('#q-purpose').value, document.querySelector('#q-case').value]"
        )
    finally:
        browser.close()
    assert kept == ["incident", case]

    def mine() -> dict[str, dict[str, object]] | None:
        found = {x["action"]: x for x in audit_records(api_env) if x["case_id"] == case}
        return found if {"search", "event_view"} <= set(found) else None

    recs = wait_until(mine, 20, "the console's audit records")
    assert recs["search"]["purpose"] == "incident" and recs["search"]["actor"] == "user:analyst"
    assert recs["event_view"]["purpose"] == "incident"
