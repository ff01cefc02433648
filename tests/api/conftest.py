"""Fixtures of the API tests: one seeded API environment shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from platestream.settings import CommonSettings

from .helpers import ApiEnv, api_environment


@pytest.fixture(scope="session")
def api_env(stack: CommonSettings) -> Iterator[ApiEnv]:
    # Private targets allowed: the alert-route tests send to receivers on 127.0.0.1.
    with api_environment(stack, api_allow_private_targets=True) as env:
        yield env
