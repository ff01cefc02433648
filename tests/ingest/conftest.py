"""Ingest tests: consumers a failed test left open are closed before the next test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ingest.camera_helpers import OPEN_READERS


@pytest.fixture(autouse=True)
def _close_topic_readers() -> Iterator[None]:
    yield
    for reader in list(OPEN_READERS):
        reader.close()
