"""Fixtures for the enrich tests (helpers live in helpers.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from platestream.settings import CommonSettings

from .helpers import Pipe, TopicReader


@pytest.fixture
def enrich_settings(settings: CommonSettings) -> Any:
    from services.enrich.settings import EnrichSettings

    return EnrichSettings(
        **{
            **settings.model_dump(),
            "enrich_gap_ms": 1500,
            "enrich_idle_close_ms": 1500,
            "enrich_metrics_port": 0,
            "enrich_poll_timeout_s": 0.02,
            "enrich_linger_ms": 1,
        }
    )


@pytest.fixture
def pipe(settings: CommonSettings) -> Iterator[Pipe]:
    p = Pipe(settings)
    yield p
    p.producer.flush(5)


@pytest.fixture
def reader(settings: CommonSettings) -> Iterator[Callable[[str], TopicReader]]:
    """reader(topic): one TopicReader per topic for the test (records accumulate across calls)."""
    made: dict[str, TopicReader] = {}

    def make(base_topic: str) -> TopicReader:
        if base_topic not in made:
            made[base_topic] = TopicReader(settings, base_topic)
        return made[base_topic]

    yield make
    for r in made.values():
        r.close()
