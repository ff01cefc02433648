"""The investigations pages of the console in headless Chromium, on the seeded town: journeys on
the map, the travelling-with list, the OD heatmap and dwell per site. Screenshots are kept in
var/test-artifacts/investigations-*.png."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.api.helpers import CHOOSE_PURPOSE_JS, PASSWORD
from tests.api.test_console import png_pixels

from .dataset import BUDDY, SOMETIMES, TARGET

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(), reason="Debian chromium not installed"
    ),
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def shot(browser, tmp_path: Path, name: str) -> None:
    data = browser.screenshot(tmp_path / f"{name}.png")
    width, height, raw = png_pixels(data)
    assert width >= 800 and height >= 600
    assert len(set(raw[:: max(1, len(raw) // 20000)])) > 10, f"{name}: screenshot looks blank"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(tmp_path / f"{name}.png", ARTIFACTS / f"investigations-{name}.png")


def test_investigation_pages(inv_env, tmp_path: Path) -> None:
    from tests.api.cdp import Browser

    browser = Browser()
    try:
        browser.navigate(inv_env.url + "/")
        browser.wait_for("!!document.querySelector('#login-user')")
        browser.eval(f"""
            document.querySelector('#login-user').value = 'analyst';
            document.querySelector('#login-pass').value = {PASSWORD!r};
            document.querySelector('#login-submit').click(); true""")
        browser.wait_for("!!document.querySelector('#search-form')")
        browser.eval("document.querySelector('a[href=\"#journeys\"]').click(); true")
        browser.wait_for("!!document.querySelector('#inv-plate')")
        browser.wait_for(CHOOSE_PURPOSE_JS)  # the journeys tab asks why; remembered after
        browser.eval(
            f"document.querySelector('#inv-plate').value = {TARGET!r}; document.querySelector('#inv-submit').click(); true"
        )
        assert browser.wait_for("document.querySelectorAll('#inv-trips tbody tr').length") == 3
        assert browser.eval("document.querySelectorAll('svg.inv-map polyline.trip').length") == 3
        assert browser.eval("document.querySelectorAll('svg.inv-map circle.camera').length") == 3
        assert (
            browser.eval("document.querySelector('#inv-trips tbody tr td:last-child').textContent")
            == "cam-1 → cam-2 → cam-3"
        )
        shot(browser, tmp_path, "journeys")

        browser.eval(f"location.hash = '#convoys/{TARGET}'; true")
        browser.wait_for("document.querySelectorAll('#inv-convoys tbody tr').length")
        assert browser.eval(
            "[...document.querySelectorAll('#inv-convoys tbody td.plate')].map(t => t.textContent)"
        ) == [BUDDY]
        browser.eval(
            "document.querySelector('#inv-form [name=min_occasions]').value = 2; document.querySelector('#inv-form [name=min_cameras]').value = 1; document.querySelector('#inv-submit').click(); true"
        )
        assert browser.wait_for(
            "document.querySelectorAll('#inv-convoys tbody tr').length === 2 && [...document.querySelectorAll('#inv-convoys tbody td.plate')].map(t => t.textContent)"
        ) == [BUDDY, SOMETIMES]
        shot(browser, tmp_path, "convoys")

        browser.eval("location.hash = '#od'; true")
        browser.wait_for("document.querySelectorAll('svg.inv-heatmap rect.od-cell').length")
        cells = browser.eval(
            "[...document.querySelectorAll('svg.inv-heatmap rect.od-cell')].map(r => Number(r.dataset.trips))"
        )
        assert len(cells) == 16 and sum(cells) == 19  # four sites squared; 19 trips
        shot(browser, tmp_path, "od")

        browser.eval("location.hash = '#dwell'; true")
        browser.wait_for("document.querySelectorAll('#inv-sites tbody tr').length")
        assert browser.eval(
            "[...document.querySelectorAll('#inv-sites tbody tr td')].slice(0, 3).map(t => t.textContent)"
        ) == ["park", "4", "1"]
        assert browser.eval(
            "[...document.querySelectorAll('#inv-overstays tbody td.plate')].map(t => t.textContent)"
        ) == ["PRK0003", "PRK0002"]
        shot(browser, tmp_path, "dwell")

        browser.eval("location.hash = '#anomalies'; true")
        browser.wait_for("document.querySelectorAll('#inv-anomalies tbody tr').length")
        assert (
            browser.eval("document.querySelector('#inv-anomalies tbody td.plate').textContent")
            == TARGET
        )
        shot(browser, tmp_path, "anomalies")
    finally:
        browser.close()
