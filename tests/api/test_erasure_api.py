"""Erasure requests through the API and the CLI (issue 17 item 2), against the real sink,
ClickHouse, bucket and broker: an admin with a purpose erases a plate or one event; the sink
carries it out; no search, view or subject-access archive returns it; the request and its audit
record never name the plate in clear."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from typer.testing import CliRunner

from platestream import topics as catalogue
from platestream.ids import stable_id
from platestream.privacy.erasure import subject_id
from platestream.timeutil import now_ms

from .helpers import ApiEnv, audit_records, produce, read_topic, wait_until
from .seed import crop_jpeg, image_ref
from .test_privacy import _env_of

pytestmark = pytest.mark.integration

GONE, ALSO = "ERAS3ME9", "ERAS3ME8"  # plates no other test uses
# Their passages are eight days old: older than the erasure request, and outside the seven days
# the shared environment's statistics tests count (traffic counts per camera and hour carry no
# plate and are kept by an erasure, docs/privacy.md).
AGE_MS = 8 * 86_400_000


def _events(plate: str, n: int, base: int) -> list[dict[str, Any]]:
    out = []
    for i in range(n):
        ts = base + i * 1000
        read_id = stable_id("erasure-api-read", plate, i)
        out.append(
            {
                "event_id": stable_id("erasure-api-event", plate, i),
                "version": 0,
                "camera_id": "cam-a",
                "lane": 1,
                "plate": plate,
                "confidence": 0.9,
                "plate_format": None,
                "country": "BR",
                "ts": ts,
                "first_seen": ts - 400,
                "last_seen": ts,
                "read_count": 1,
                "variants": [plate],
                "read_ids": [read_id],
                "best_read_id": read_id,
                "best_crop": image_ref("plate", crop_jpeg(i + 1)),
                "images": [],
                "source": "detector",
                "direction": None,
                "vehicle_type": None,
                "vehicle_color": None,
                "vehicle_make": None,
                "vehicle_model": None,
                "camera_name": None,
                "site": None,
                "zone": None,
                "lat": None,
                "lon": None,
                "heading": None,
                "access_status": "unknown",
                "watchlist_hits": [],
                "correction_id": None,
                "received_at": ts,
                "emitted_at": ts + 100,
            }
        )
    return out


def _stored(env: ApiEnv, plate: str) -> int:
    return int(
        env.state.clickhouse.command(
            "SELECT count() FROM plate_events WHERE plate = {p:String}", parameters={"p": plate}
        )
    )


def _store_two(env: ApiEnv, plate: str) -> None:
    """Two passages of ``plate``, eight days old, stored by the sink."""
    produce(
        env.settings, catalogue.PLATE_EVENTS, "plate_event", _events(plate, 2, now_ms() - AGE_MS)
    )
    wait_until(lambda: _stored(env, plate) == 2, 60, "the events")


def _search(env: ApiEnv, plate: str) -> list[dict[str, Any]]:
    r = env.get("/api/v1/events", params={"plate": plate})
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def _done(env: ApiEnv, erasure_id: str) -> dict[str, Any] | None:
    r = env.get(f"/api/v1/privacy/erasures/{erasure_id}")
    if r.status_code == 404:
        return None
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_an_admin_erases_a_plate_and_one_event_and_nothing_names_the_plate(
    api_env: ApiEnv,
) -> None:
    base = now_ms() - AGE_MS
    gone, also = _events(GONE, 3, base), _events(ALSO, 2, base + 50_000)
    produce(api_env.settings, catalogue.PLATE_EVENTS, "plate_event", gone + also)
    # a search reads plate_event_index, which a view fills after plate_events' own part is
    # committed: under load a reader can see the events there a moment before the index has them
    wait_until(
        lambda: len(_search(api_env, GONE)) == 3 and len(_search(api_env, ALSO)) == 2,
        60,
        "the events in search",
    )
    assert _stored(api_env, GONE) == 3

    path = "/api/v1/privacy/erasures"
    assert api_env.post(path, "analyst", json={"plate": GONE}).status_code == 403
    no_purpose = {"Authorization": f"Bearer {api_env.tokens['admin']}"}
    assert api_env.http.post(path, headers=no_purpose, json={"plate": GONE}).status_code == 422
    both = api_env.post(path, json={"plate": GONE, "event_id": "x"})
    assert both.status_code == 422 and "exactly one" in both.text
    assert api_env.post(path, json={"event_id": "no-such-event"}).status_code == 404

    r = api_env.post(path, json={"plate": "eras-3me 9"}, headers={"X-Case-Id": "DSR-17"})
    assert r.status_code == 202, r.text
    req = r.json()
    assert req["scope"] == "plate" and req["subject_id"] == subject_id(
        GONE, api_env.settings.privacy_subject_key
    )
    done = wait_until(lambda: _done(api_env, req["erasure_id"]), 60, "the erasure carried out")
    assert done["status"] == "done" and done["rows_deleted"]["plate_events"] == 3
    assert done["images_deleted"] == 3 and done["case_id"] == "DSR-17"
    assert _search(api_env, GONE) == []
    assert api_env.get(f"/api/v1/events/{gone[0]['event_id']}").status_code == 404
    assert len(_search(api_env, ALSO)) == 2  # the other plate is intact

    # one event of the other plate
    r = api_env.post(path, json={"event_id": also[0]["event_id"]})
    assert r.status_code == 202, r.text
    wait_until(lambda: _done(api_env, r.json()["erasure_id"]), 60, "the event erasure")
    assert [e["event_id"] for e in _search(api_env, ALSO)] == [also[1]["event_id"]]

    listed = api_env.get(path).json()["erasures"]
    assert {req["erasure_id"], r.json()["erasure_id"]} <= {e["erasure_id"] for e in listed}
    # the plate is in no request and no audit record of the erasure
    requests = [v for _k, v in read_topic(api_env, catalogue.ERASURES) if v is not None]
    audits = [a for a in audit_records(api_env) if a["action"] == "erasure"]
    assert len(audits) >= 2 and all(a["purpose"] for a in audits)
    assert GONE not in json.dumps(requests) + json.dumps(audits)

    # leave the shared database holding the seed alone: other tests count its events
    r = api_env.post(path, json={"event_id": also[1]["event_id"]})
    assert r.status_code == 202, r.text
    wait_until(lambda: _done(api_env, r.json()["erasure_id"]), 60, "the last event's erasure")
    assert _stored(api_env, ALSO) == 0


def test_the_cli_requests_an_erasure_the_sink_carries_out(
    api_env: ApiEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platestream.cli import app
    from platestream.settings import CommonSettings

    plate = "ERAS3ME7"
    _store_two(api_env, plate)
    common = CommonSettings(**api_env.settings.model_dump(include=set(CommonSettings.model_fields)))
    for key, value in _env_of(common).items():
        monkeypatch.setenv(key, value)
    result = CliRunner().invoke(
        app, ["privacy", "erase", "--plate", plate.lower(), "--case-id", "DSR-CLI"]
    )
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.strip().splitlines()[-1])
    assert plate not in result.output
    done = wait_until(lambda: _done(api_env, out["erasure_id"]), 60, "the CLI's erasure")
    assert done["rows_deleted"]["plate_events"] == 2 and done["actor"].startswith("cli:")
    assert _stored(api_env, plate) == 0
    bad = CliRunner().invoke(app, ["privacy", "erase"])
    assert bad.exit_code != 0 and "exactly one" in bad.output


def test_the_console_erases_a_plate_from_the_audit_page(api_env: ApiEnv) -> None:
    from .cdp import Browser
    from .helpers import CHOOSE_PURPOSE_JS, log_in
    from .screens import save_screenshot

    plate = "ERAS3ME6"
    _store_two(api_env, plate)
    browser: Any = Browser()
    try:
        log_in(browser, api_env.url, "admin")
        browser.wait_for("!!document.querySelector('#search-form')")
        browser.eval("location.hash = '#audit'; true")
        browser.wait_for(CHOOSE_PURPOSE_JS)
        browser.wait_for("!!document.querySelector('#erase-form')")
        # the page asks before erasing: the test answers yes
        browser.eval(f"""
            window.confirm = () => true;
            const f = document.querySelector('#erase-form');
            f.kind.value = 'plate'; f.subject.value = '{plate.lower()}';
            document.querySelector('#erase-submit').click(); true""")
        browser.wait_for(
            "document.querySelector('#erase-status').textContent.startsWith('Done')", timeout=60
        )
        status = browser.eval("document.querySelector('#erase-status').textContent")
        first = browser.eval(
            "[...document.querySelector('#erasures tbody tr').cells].map((c) => c.textContent)"
        )
        save_screenshot(browser, "console-erasure")
    finally:
        browser.close()
    assert re.fullmatch(r"Done: \d+ rows and 2 images removed\.", status), status
    assert _stored(api_env, plate) == 0
    assert first[1] == "plate" and first[3] == "user:admin" and plate not in " ".join(first)
