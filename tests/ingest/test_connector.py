"""The Dahua connector survives the camera going away and coming back: no duplicates, and status
events for both transitions."""

from __future__ import annotations

import threading
import time

import pytest

from platestream import topics as catalogue
from services.ingest.connector import DahuaConnector, RecentIds
from services.ingest.processor import ingest_context
from services.ingest.status import StatusPublisher

from .dahua_camera import FakeDahua
from .helpers import ingest_settings, read_topic
from .payloads import DAHUA_KV, jpeg, sample


def kv_event(group: int, utc: int) -> bytes:
    kv = sample(DAHUA_KV)
    kv = kv.replace(b"Events[0].GroupID=1228253", f"Events[0].GroupID={group}".encode())
    return kv.replace(b"Events[0].UTC=1623416558", f"Events[0].UTC={utc}".encode())


def wait_for(predicate, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_recent_ids() -> None:
    r = RecentIds(size=2)
    assert [r.seen(x) for x in ("a", "b", "a", "c", "b", "a")] == [
        False,
        False,
        True,
        False,
        False,
        False,
    ]


@pytest.mark.integration
def test_connector_reconnects_without_duplicates(settings) -> None:
    s = ingest_settings(settings, ingest_reconnect_min_s=0.1, ingest_reconnect_max_s=0.5)
    cam = FakeDahua()
    cam.start()
    stop = threading.Event()
    with ingest_context(s, uploads=False) as ctx:
        status = StatusPublisher(producer=ctx.producer, serde=ctx.serde, settings=s)
        conn = DahuaConnector(
            camera_id="cam-dahua",
            base_url=cam.base_url,
            username="admin",
            password="cam-pass-1",
            publisher=ctx.publisher,
            status=status,
            settings=s,
            stop=stop,
            dead_letters=ctx.dead_letters,
            read_timeout=3.0,
        )
        t = threading.Thread(target=conn.run, daemon=True)
        t.start()
        try:
            wait_for(cam.connected.is_set)
            events = [kv_event(1000 + i, 1700000000 + i) for i in range(4)]
            cam.send(b"Heartbeat")
            for ev in events[:2]:
                cam.send(ev)
                cam.send(jpeg(320, 200), "image/jpeg")
            wait_for(lambda: conn.published == 2)
            cam.stop()  # the camera reboots
            wait_for(lambda: not conn.online)
            cam.start()
            wait_for(cam.connected.is_set)
            cam.send(events[1])  # replayed after the reconnect
            cam.send(jpeg(320, 200), "image/jpeg")
            for ev in events[2:]:
                cam.send(ev)
                cam.send(jpeg(320, 200), "image/jpeg")
            cam.send(b"Heartbeat")
            wait_for(lambda: conn.published == 4 and conn.replays_dropped == 1)
        finally:
            stop.set()
            cam.stop()
            t.join(timeout=10)
        assert not t.is_alive()
        ctx.producer.producer.flush(10)
    assert (
        conn.connects == 2 and cam.unauthorised >= 1
    )  # digest: challenged once, then answered (httpx reuses the nonce)
    records = read_topic(s, s.topic(catalogue.CAMERA_EVENTS.name), expect=5, timeout=8)
    ids = [r["event_id"] for _, r in records]
    assert len(ids) == 4 and len(set(ids)) == 4  # no duplicates
    assert sorted(r["ts"] for _, r in records) == [1700000000233 + i * 1000 for i in range(4)]
    assert all(
        r["plate"] == "粤MTU952" and r["camera_id"] == "cam-dahua" and len(r["images"]) == 1
        for _, r in records
    )
    states = [
        r["state"]
        for _, r in read_topic(s, s.topic(catalogue.CAMERA_STATUS.name), expect=4, timeout=8)
    ]
    assert states == ["online", "offline", "online", "offline"]
