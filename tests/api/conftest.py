"""Fixtures of the API tests: one seeded API environment shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from platestream.settings import CommonSettings

from .helpers import ApiEnv, api_environment, free_port


@pytest.fixture(scope="session")
def api_env(stack: CommonSettings) -> Iterator[ApiEnv]:
    # Private targets allowed: the alert-route tests send to receivers on 127.0.0.1. Uploads are
    # forwarded to an ingest that tests/api/ingest_env.py starts on this port when a test needs it.
    overrides = {
        "api_allow_private_targets": True,
        "api_live_recheck_s": 1.0,  # a disabled user's live feed closes within seconds
        "api_login_account_failures": 4,
        "api_ingest_url": f"http://127.0.0.1:{free_port()}",
    }
    with api_environment(stack, **overrides) as env:
        yield env
