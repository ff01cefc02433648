"""The console's live and review pages in headless Chromium state a purpose (issue 17): without one
they say so and open nothing; once chosen, the live page's WebSocket carries it (its live_open
audit record has it) and the review queue loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from .helpers import CHOOSE_PURPOSE_JS, ApiEnv, audit_records, log_in, wait_until
from .screens import save_screenshot

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(), reason="Debian chromium not installed"
    ),
]


def _text(browser: Any, selector: str) -> str:
    return str(browser.eval(f"(document.querySelector({selector!r}) || {{}}).textContent || ''"))


def test_live_and_review_pages_ask_for_a_purpose_and_send_it(api_env: ApiEnv) -> None:
    from .cdp import Browser

    assert api_env.state.live.assigned.wait(20)
    browser = Browser()  # a fresh tab session: no purpose chosen yet
    try:
        log_in(browser, api_env.url, "operator")
        browser.wait_for("!!document.querySelector('#search-form')")
        browser.eval("location.hash = '#live'; true")
        browser.wait_for(
            "(document.querySelector('#live-status') || {}).textContent"
            " === 'State a purpose to follow the live feed.'"
        )
        assert browser.eval("document.querySelector('#q-purpose').required") is True

        def opened() -> list[dict[str, Any]]:
            return [
                r
                for r in audit_records(api_env)
                if r["actor"] == "user:operator"
                and r["action"] == "live_open"
                and r["resource"] == "/api/v1/live"
            ]

        before = len(opened())
        browser.wait_for(CHOOSE_PURPOSE_JS)  # choosing one follows the feed
        browser.wait_for("document.querySelector('#live-status').textContent === 'connected'")
        rec = wait_until(lambda: opened()[before:], 20, "the console's live_open record")[-1]
        assert rec["purpose"] == "investigation"
        save_screenshot(browser, "live-purpose")
        browser.eval("location.hash = '#review'; true")  # the purpose is kept for the session
        browser.wait_for(
            "(document.querySelector('#review-status') || {}).textContent.includes('below')"
        )
        assert browser.eval("document.querySelector('#q-purpose').value") == "investigation"
        plates = browser.eval(
            "[...document.querySelectorAll('#review tbody .plate')].map(e => e.textContent)"
        )
        assert "QRS4321" in plates, plates
    finally:
        browser.close()
