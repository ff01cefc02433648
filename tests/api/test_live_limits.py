"""The live feed's subscriber caps: per user and per process; a closed feed frees its place."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from fastapi import HTTPException

from services.api.live import LiveFull, LiveHub
from services.api.routes.live import _subscribe


def test_one_user_cannot_take_every_place_and_the_process_has_a_cap() -> None:
    async def run() -> None:
        settings = SimpleNamespace(
            api_live_queue=4, api_live_max_clients=3, api_live_max_per_user=2
        )
        hub = LiveHub(settings=settings, serde=None)  # type: ignore[arg-type]
        first = hub.subscribe(owner="user:mallory")
        hub.subscribe(owner="user:mallory")
        with pytest.raises(LiveFull, match="user:mallory already has 2 live feeds open"):
            hub.subscribe(owner="user:mallory")
        hub.subscribe(owner="user:alice")  # another user still gets in
        with pytest.raises(LiveFull, match="has its 3 subscribers"):
            hub.subscribe(owner="user:bob")
        hub.unsubscribe(first)
        assert hub.subscribe(owner="user:bob").owner == "user:bob"
        state = SimpleNamespace(live=hub)
        with pytest.raises(HTTPException) as info:
            _subscribe(state, "user:carol", None, None, None)  # type: ignore[arg-type]
        assert info.value.status_code == 429

    asyncio.run(run())
