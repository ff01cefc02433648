"""The web console in headless Chromium: log in, search a plate, open the event, see the image."""

from __future__ import annotations

import shutil
import struct
import zlib
from pathlib import Path

import pytest

from .helpers import CHOOSE_PURPOSE_JS, ApiEnv, log_in
from .screens import screenshot_dir

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path("/usr/bin/chromium").exists(), reason="Debian chromium not installed"
    ),
]


def png_pixels(data: bytes) -> tuple[int, int, bytes]:
    """Width, height and raw (filtered) scanlines of a PNG, enough to tell a blank page from content."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height = struct.unpack(">II", chunk[:8])
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    return width, height, zlib.decompress(idat)


def test_console_login_search_open_event_and_see_image(api_env: ApiEnv, tmp_path: Path) -> None:
    from .cdp import Browser

    target = api_env.seed.by_plate("XYZ9876")[0]
    browser = Browser()
    try:
        log_in(browser, api_env.url, "viewer")
        browser.wait_for("!!document.querySelector('#search-form')")
        assert "viewer" in browser.eval("document.querySelector('#who').textContent")
        browser.wait_for(CHOOSE_PURPOSE_JS)
        browser.eval(
            "document.querySelector('#q-plate').value = 'XYZ9876'; document.querySelector('#search-submit').click(); true"
        )
        assert browser.wait_for("document.querySelectorAll('#results tbody tr').length") == 1
        assert (
            browser.eval("document.querySelector('#results tbody tr .plate').textContent")
            == "XYZ9876"
        )
        browser.wait_for(
            "(() => { const t = document.querySelector('#results img.thumb'); return t && t.complete && t.naturalWidth > 0; })()"
        )
        browser.eval("document.querySelector('#results tbody tr').click(); true")
        browser.wait_for("!!document.querySelector('#ev-fields dt')")
        assert browser.eval("location.hash") == f"#event/{target['event_id']}"
        size = browser.wait_for("""(() => { const i = document.querySelector('img.event-image');
            return i && i.complete && i.naturalWidth > 0 ? [i.naturalWidth, i.naturalHeight] : null; })()""")
        from services.api.routes.training import image_size

        assert tuple(size) == image_size(api_env.seed.crops[target["event_id"]])
        assert browser.eval("document.querySelector('#ev-plate').textContent") == "XYZ9876"
        shot = browser.screenshot(tmp_path / "event.png")
    finally:
        browser.close()
    width, height, raw = png_pixels(shot)
    assert width >= 800 and height >= 600
    assert len(set(raw[:: max(1, len(raw) // 20000)])) > 10, "screenshot looks blank"
    shutil.copy(tmp_path / "event.png", screenshot_dir() / "console-event.png")
