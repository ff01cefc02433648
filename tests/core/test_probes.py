"""Liveness from the consume loop: a loop that stops polling turns /health into 503."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from platestream import topics as catalogue
from platestream.heartbeat import HeartbeatConsumer, Heartbeats
from platestream.kafka import consumer_config, make_consumer
from platestream.probes import start_metrics_server
from platestream.settings import CommonSettings
from platestream.stack.ports import free_port


def _serve(heartbeats: Heartbeats, max_age_s: float) -> str:
    port = free_port()
    _server, _thread = start_metrics_server(port, heartbeats=heartbeats, max_age_s=max_age_s)
    return f"http://127.0.0.1:{port}"


def test_probe_answers_from_the_heartbeats() -> None:
    beats = Heartbeats()
    url = _serve(beats, max_age_s=0.5)
    assert httpx.get(f"{url}/health").status_code == 200  # starting: no loop yet
    assert httpx.get(f"{url}/readyz").status_code == 503
    key = beats.register("platestream-sink")
    assert httpx.get(f"{url}/readyz").status_code == 200
    time.sleep(0.8)
    stale = httpx.get(f"{url}/livez")
    assert stale.status_code == 503 and "platestream-sink" in stale.json()["stale"]
    beats.beat(key)
    assert httpx.get(f"{url}/health").status_code == 200
    assert "# HELP" in httpx.get(f"{url}/metrics").text  # metrics still served


def test_only_subscribed_consumers_are_tracked() -> None:
    beats = Heartbeats()
    conf = {"bootstrap.servers": "127.0.0.1:9", "group.id": "g", "log_level": 0}
    reader = HeartbeatConsumer(conf, heartbeats=beats)  # assign-style readers never subscribe
    reader.poll(0)
    assert beats.ages() == {}
    loop = HeartbeatConsumer(conf, heartbeats=beats)
    loop.subscribe(["t"])
    assert list(beats.ages()) == ["g"]
    loop.close()
    reader.close()
    assert beats.ages() == {}


@pytest.mark.integration
def test_a_frozen_consume_loop_fails_the_probe(settings: CommonSettings) -> None:
    """A stage-style loop (the consumer every stage gets from make_consumer) consumes until its
    processing deadlocks; the probe turns 503 within the max age, and 200 once it moves again."""
    made = make_consumer(settings, f"{settings.topic_prefix}any")
    assert isinstance(made, HeartbeatConsumer)
    made.close()
    beats = Heartbeats()
    url = _serve(beats, max_age_s=2.0)
    group = f"{settings.topic_prefix}frozen-loop"
    consumer = HeartbeatConsumer(consumer_config(settings, group), heartbeats=beats)
    consumer.subscribe([settings.topic(catalogue.PLATE_READS.name)])
    stuck = threading.Lock()
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            consumer.consume(num_messages=100, timeout=0.2)
            with stuck:  # the "processing": blocks while the test holds the lock
                pass

    worker = threading.Thread(target=loop)
    worker.start()
    try:
        time.sleep(1.0)
        assert httpx.get(f"{url}/health").status_code == 200
        stuck.acquire()  # deadlock the loop
        deadline = time.monotonic() + 10
        while httpx.get(f"{url}/health").status_code == 200:
            assert time.monotonic() < deadline, "probe still 200 with a frozen loop"
            time.sleep(0.2)
        frozen = httpx.get(f"{url}/health")
        assert frozen.status_code == 503 and group in frozen.json()["stale"]
        stuck.release()
        time.sleep(0.5)
        assert httpx.get(f"{url}/health").status_code == 200
    finally:
        stop.set()
        if stuck.locked():
            stuck.release()
        worker.join(10)
        consumer.close()


def test_max_age_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from platestream.settings import common

    monkeypatch.setenv("PLATESTREAM_LIVENESS_MAX_AGE_S", "0.3")
    common.cache_clear()
    try:
        beats = Heartbeats()
        port = free_port()
        start_metrics_server(port, heartbeats=beats)
        beats.register("loop")
        url = f"http://127.0.0.1:{port}/health"
        assert httpx.get(url).json()["max_age_s"] == 0.3
        time.sleep(0.5)
        assert httpx.get(url).status_code == 503
    finally:
        common.cache_clear()
