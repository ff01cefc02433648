"""The console renders each page once per navigation: signing in used to set the hash *and* call
the router, so the search page was rendered twice, and a page opened meanwhile could be replaced
by the slower render (a flaky purpose check on the live page)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from .helpers import ApiEnv, log_in, sign_in

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(), reason="Debian chromium not installed"
    ),
]

# every request the page made to a path ending so, from the browser's resource timing
COUNT_JS = "performance.getEntriesByType('resource').filter((e) => e.name.endsWith({!r})).length"


def test_signing_in_and_out_renders_each_page_once(api_env: ApiEnv) -> None:
    from .cdp import Browser

    browser = Browser()
    try:
        log_in(browser, api_env.url, "operator")
        browser.wait_for("!!document.querySelector('#search-form')")
        browser.wait_for(COUNT_JS.format("/privacy/purposes") + " >= 1")
        time.sleep(1.0)  # a second render, if any, has fetched by now
        # one router run: who the user is, asked once; the search page's purposes, fetched once
        assert browser.eval(COUNT_JS.format("/auth/me")) == 1
        assert browser.eval(COUNT_JS.format("/privacy/purposes")) == 1

        browser.eval("document.querySelector('#logout').click(); true")
        browser.wait_for("!!document.querySelector('#login-user')")
        assert browser.eval("location.hash") == "#login"
        sign_in(browser, "operator")  # on the same page: its request counts go on
        browser.wait_for("!!document.querySelector('#search-form')")
        browser.wait_for(COUNT_JS.format("/privacy/purposes") + " >= 2")
        time.sleep(1.0)
        assert browser.eval(COUNT_JS.format("/auth/me")) == 2
        assert browser.eval(COUNT_JS.format("/privacy/purposes")) == 2
    finally:
        browser.close()
