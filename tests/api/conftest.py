"""Fixtures of the API tests: one seeded API environment shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from platestream.settings import CommonSettings

from .helpers import ApiEnv, api_environment


@pytest.fixture(scope="session")
def api_env(stack: CommonSettings) -> Iterator[ApiEnv]:
    with api_environment(stack) as env:
        yield env
