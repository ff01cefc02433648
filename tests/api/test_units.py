"""Small pieces of the API without servers: rate limits, live queues, cameras, watchlists, images, stats ranges."""

from __future__ import annotations

import asyncio
import struct

import pytest
from fastapi import HTTPException

from services.api.live import LiveClient, to_message
from services.api.ratelimit import RateLimiter
from services.api.routes.cameras import split_credentials
from services.api.routes.stats import DAY_MS, resolve_range
from services.api.routes.training import image_size
from services.api.routes.watchlists import clean_pattern, parse_import
from services.api.secrets import SecretStore, camera_secret_name


def test_token_bucket() -> None:
    rl = RateLimiter(rate=2.0, burst=3)
    assert [rl.take("u", now=0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert rl.take("u", now=0.0) == pytest.approx(0.5)
    assert rl.take("other", now=0.0) == 0.0
    assert rl.take("u", now=0.5) == 0.0  # one token refilled
    assert rl.take("u", now=0.5) > 0


def test_rate_limiter_memory_is_bounded() -> None:
    rl = RateLimiter(rate=1.0, burst=1, max_keys=10)
    for i in range(100):
        rl.take(f"k{i}", now=0.0)
    assert len(rl._buckets) == 10


def test_live_client_drops_oldest_and_filters() -> None:
    async def scenario() -> None:
        c = LiveClient(
            maxsize=3, loop=asyncio.get_running_loop(), cameras={"cam-a"}, watchlist=None
        )
        for i in range(5):
            c.offer({"type": "event", "data": {"n": i, "camera_id": "cam-a"}})
        assert c.dropped == 2
        got = [await c.get(0.1) for _ in range(3)]
        assert [m["data"]["n"] for m in got] == [2, 3, 4]  # type: ignore[index]
        assert await c.get(0.05) is None
        assert c.wants({"type": "event", "data": {"camera_id": "cam-a"}})
        assert not c.wants({"type": "event", "data": {"camera_id": "cam-b"}})
        w = LiveClient(
            maxsize=3, loop=asyncio.get_running_loop(), watchlist="stolen", kinds={"alert"}
        )
        assert w.wants({"type": "alert", "data": {"list_id": "stolen"}})
        assert not w.wants({"type": "alert", "data": {"list_id": "vip"}})
        assert not w.wants({"type": "event", "data": {"watchlist_hits": ["stolen"]}})

    asyncio.run(scenario())


def test_live_message_carries_no_image_bytes() -> None:
    msg = to_message(
        "event",
        {"event_id": "e", "plate": "ABC", "best_crop": {"data": b"\xff", "s3_key": "crops/x.jpg"}},
    )
    assert msg == {
        "type": "event",
        "data": {"event_id": "e", "plate": "ABC", "crop_s3_key": "crops/x.jpg"},
    }


def test_stream_url_credentials_are_split_out() -> None:
    url, creds = split_credentials("rtsp://admin:p%40ss@10.0.0.1:554/Streaming/101?x=1")
    assert url == "rtsp://10.0.0.1:554/Streaming/101?x=1"
    assert creds is not None and (creds.username, creds.password) == ("admin", "p@ss")
    assert split_credentials("rtsp://10.0.0.1/s") == ("rtsp://10.0.0.1/s", None)


def test_secret_store(tmp_path) -> None:  # type: ignore[no-untyped-def]
    store = SecretStore(tmp_path / "s")
    name = camera_secret_name("cam/1")
    store.put(name, "v")
    assert store.get(name) == "v" and (tmp_path / "s" / name).stat().st_mode & 0o777 == 0o600
    store.delete(name)
    assert store.get(name) is None
    with pytest.raises(ValueError):
        store.put("../escape", "x")


def test_watchlist_patterns_and_csv() -> None:
    assert clean_pattern("abc-123", "exact") == "ABC123"
    assert clean_pattern("ab?1*", "wildcard") == "AB?1*"
    with pytest.raises(ValueError):
        clean_pattern("(", "regex")
    entries, errors = parse_import(
        "pattern,priority,camera_ids\nabc1,high,a;b\n,low,\nzz9,bogus,\n", "l1", "bolo"
    )
    assert [(e.pattern, e.priority, e.camera_ids) for e in entries] == [
        ("ABC1", "high", ["a", "b"])
    ]
    assert [e["line"] for e in errors] == [3, 4]
    # Windows line endings read like any other file
    entries, errors = parse_import("pattern,priority\r\nabc1,high\r\n", "l1", "bolo")
    assert [(e.pattern, e.priority) for e in entries] == [("ABC1", "high")] and errors == []
    # a bare carriage return inside a field ended the fuzzer's request with a 500; now a line end
    entries, errors = parse_import("pattern\nab\rc\n", "l1", "bolo")
    assert [e.pattern for e in entries] == ["AB", "C"] and errors == []
    # a file the csv module cannot read is refused with a reason, not a server error
    with pytest.raises(HTTPException) as refused:
        parse_import("pattern\n" + "x" * 200_000 + "\n", "l1", "bolo")
    assert refused.value.status_code == 422 and "not a readable CSV" in str(refused.value.detail)


def test_image_size_from_headers() -> None:
    png = (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + b"IHDR"
        + struct.pack(">II", 120, 40)
        + b"\x08\x02\x00\x00\x00"
    )
    assert image_size(png) == (120, 40)
    jpeg = (
        b"\xff\xd8"
        + b"\xff\xe0"
        + struct.pack(">H", 4)
        + b"JF"
        + b"\xff\xc0"
        + struct.pack(">HBHH", 11, 8, 48, 160)
    )
    assert image_size(jpeg) == (160, 48)
    assert image_size(b"nope") is None


def test_stats_ranges() -> None:
    now = 1_700_000_000_000
    assert resolve_range("7d", None, None, now) == (now - 7 * DAY_MS, now + 1)
    lo, hi = resolve_range("today", None, None, now)
    assert lo % DAY_MS == 0 and lo <= now < hi
