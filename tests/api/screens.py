"""Where the console's Chromium tests leave their screenshots: ``$PLATESTREAM_SCREENSHOTS`` if
set, else ``var/test-artifacts/`` (ignored by git), so a closing note can list and open them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

DEFAULT = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"


def screenshot_dir() -> Path:
    path = Path(os.environ.get("PLATESTREAM_SCREENSHOTS") or DEFAULT)
    path.mkdir(parents=True, exist_ok=True)
    return path


def save_screenshot(browser: Any, name: str) -> Path:
    """A PNG of the page as ``console-<name>.png``; fails if it looks blank."""
    path = screenshot_dir() / f"console-{name}.png"
    data = browser.screenshot(path)
    assert len(data) > 10_000, f"{name}: screenshot looks blank"
    return path
