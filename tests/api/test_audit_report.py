"""Audit report per user and per plate (issue 17 item 5) on the live stack: searches and an event
view go through the API with a purpose and a case, the sink projects the audit records to
ClickHouse, and the admin's report names who searched, how it matched, and why; the console page
shows the same in headless Chromium."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from services.api.routes.audit_report import actors_of

from .helpers import CHOOSE_PURPOSE_JS, ApiEnv, log_in, wait_until
from .screens import save_screenshot

REPORT = "/api/v1/audit/report"


def _h(env: ApiEnv, role: str, rid: str | None = None, **extra: str) -> dict[str, str]:
    h = {"Authorization": f"Bearer {env.tokens[role]}", **extra}
    if rid:
        h["X-Request-ID"] = rid
    return h


def test_a_bare_name_is_a_user_and_a_kind_is_kept() -> None:
    assert actors_of("analyst") == ["user:analyst"]
    assert actors_of("key:abc") == ["key:abc"]


@pytest.fixture(scope="module")
def searches(api_env: ApiEnv) -> dict[str, str]:
    """Three searches and an event view, each with its own request id, projected to ClickHouse."""
    tag = uuid.uuid4().hex[:6]
    case = f"CASE-{tag}"
    rids = {k: f"ar-{k}-{tag}" for k in ("exact", "pattern", "other", "view")}
    calls = [
        ("exact", "analyst", {"plate": "ABC1234", "purpose": "incident", "case_id": case}),
        ("pattern", "viewer", {"plate": "AB?12*", "purpose": "investigation"}),
        ("other", "analyst", {"plate": "XYZ9876", "purpose": "incident", "case_id": case}),
    ]
    for key, role, params in calls:
        r = api_env.http.get("/api/v1/events", params=params, headers=_h(api_env, role, rids[key]))
        assert r.status_code == 200, r.text
    ev = api_env.seed.by_plate("ABC1234")[0]
    view = api_env.http.get(
        f"/api/v1/events/{ev['event_id']}",
        headers=_h(api_env, "operator", rids["view"], **{"X-Purpose": "audit"}),
    )
    assert view.status_code == 200, view.text
    ch = api_env.state.clickhouse
    wait_until(
        lambda: (
            ch.query(
                "SELECT uniqExact(request_id) FROM audit_log WHERE request_id IN {r:Array(String)}",
                parameters={"r": list(rids.values())},
            ).result_rows[0][0]
            == len(rids)
        ),
        30,
        "the audit rows in ClickHouse",
    )
    return {**rids, "case": case}


@pytest.mark.integration
def test_the_plate_report_names_who_searched_how_and_why(
    api_env: ApiEnv, searches: dict[str, str]
) -> None:
    r = api_env.http.get(
        REPORT, params={"plate": "abc 1234", "purpose": "audit"}, headers=_h(api_env, "admin")
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["plate"] == "ABC1234" and body["user"] is None
    mine = {e["request_id"]: e for e in body["entries"] if e["request_id"] in searches.values()}
    assert set(mine) == {searches["exact"], searches["pattern"], searches["view"]}  # not XYZ9876
    exact = mine[searches["exact"]]
    assert (exact["actor"], exact["action"], exact["match"]) == ("user:analyst", "search", "exact")
    assert (exact["purpose"], exact["case_id"]) == ("incident", searches["case"])
    pattern = mine[searches["pattern"]]
    assert (pattern["actor"], pattern["match"], pattern["searched"]) == (
        "user:viewer",
        "pattern",
        "AB?12*",
    )
    assert pattern["purpose"] == "investigation" and pattern["case_id"] is None
    view = mine[searches["view"]]
    assert (view["actor"], view["match"], view["purpose"]) == ("user:operator", "event", "audit")
    assert body["by_action"]["search"] >= 2 and body["by_purpose"]["incident"] >= 1
    times = [e["ts"] for e in body["entries"]]
    assert times == sorted(times, reverse=True)  # newest first


@pytest.mark.integration
def test_the_user_report_lists_only_that_users_records(
    api_env: ApiEnv, searches: dict[str, str]
) -> None:
    r = api_env.http.get(
        REPORT, params={"user": "analyst", "purpose": "audit"}, headers=_h(api_env, "admin")
    )
    assert r.status_code == 200, r.text
    entries = r.json()["entries"]
    assert entries and {e["actor"] for e in entries} == {"user:analyst"}
    mine = {e["request_id"]: e for e in entries if e["request_id"] in searches.values()}
    assert set(mine) == {searches["exact"], searches["other"]}
    assert mine[searches["other"]]["searched"] == "XYZ9876"
    assert mine[searches["other"]]["case_id"] == searches["case"]
    small = api_env.http.get(
        REPORT,
        params={"user": "analyst", "purpose": "audit", "limit": 1},
        headers=_h(api_env, "admin"),
    ).json()
    assert len(small["entries"]) == 1 and small["truncated"] is True


@pytest.mark.integration
def test_the_report_is_for_admins_with_a_purpose_and_one_subject(api_env: ApiEnv) -> None:
    ok = {"plate": "ABC1234", "purpose": "audit"}
    assert api_env.http.get(REPORT, params=ok, headers=_h(api_env, "analyst")).status_code == 403
    assert api_env.http.get(REPORT, params=ok).status_code == 401
    admin = _h(api_env, "admin")
    for params in (
        {"plate": "ABC1234"},  # no purpose
        {"purpose": "audit"},  # neither user nor plate
        {"plate": "ABC1234", "user": "analyst", "purpose": "audit"},  # both
        {"plate": "***", "purpose": "audit"},  # no letters or digits
        {"user": "analyst", "purpose": "audit", "since": "2026-01-02", "until": "2026-01-01"},
    ):
        r = api_env.http.get(REPORT, params=params, headers=admin)
        assert r.status_code == 422, (params, r.text)


@pytest.mark.integration
@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian chromium not installed")
def test_the_console_audit_page_shows_the_plate_report(
    api_env: ApiEnv, searches: dict[str, str]
) -> None:
    from .cdp import Browser

    browser: Any = Browser()
    try:
        log_in(browser, api_env.url, "admin")
        browser.wait_for("!!document.querySelector('#search-form')")
        assert browser.eval("document.querySelector('a[href=\"#audit\"]').hidden") is False
        browser.eval("location.hash = '#audit'; true")
        browser.wait_for(CHOOSE_PURPOSE_JS)
        browser.eval("""
            const f = document.querySelector('#audit-form');
            f.kind.value = 'plate'; f.subject.value = 'ABC1234';
            document.querySelector('#audit-submit').click(); true""")
        browser.wait_for("document.querySelectorAll('#audit-report tbody tr').length >= 3")
        rows = browser.eval(
            "[...document.querySelectorAll('#audit-report tbody tr')]"
            ".map((tr) => [...tr.cells].map((c) => c.textContent))"
        )
        save_screenshot(browser, "audit-report")
    finally:
        browser.close()
    case_rows = [r for r in rows if r[7] == searches["case"]]
    assert case_rows and case_rows[0][1:7] == [
        "user:analyst",
        "analyst",
        "search",
        "ABC1234",
        "exact",
        "incident",
    ]
    assert any(r[1] == "user:viewer" and r[5] == "pattern" for r in rows)
    assert not any(r[4] == "XYZ9876" for r in rows)
