"""Alert delivery: routing, signing, backoff (unit) and the faust notifier on the local stack."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import random
import socket
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import pytest

from platestream import topics as catalogue
from platestream.stack.ports import free_port
from platestream.timeutil import now_ms
from services.enrich.notify import (
    Notifier,
    backoff_s,
    delivery_id,
    sign,
    standard_signature,
    targets_for,
)
from services.enrich.settings import NotifySettings, Route

from .helpers import SERDE, Pipe, TopicReader, stage_process


def alert(
    alert_id: str, list_id: str = "stolen", priority: str = "high", camera: str = "cam-n"
) -> dict[str, Any]:
    return {
        "alert_id": alert_id,
        "entry_id": "e1",
        "list_id": list_id,
        "list_kind": "bolo",
        "pattern": "BAD1234",
        "match_type": "exact",
        "reason": "stolen",
        "priority": priority,
        "owner": "op",
        "event_id": "ev1",
        "camera_id": camera,
        "plate": "BAD1234",
        "confidence": 0.95,
        "ts": now_ms(),
        "early": True,
        "emitted_at": now_ms(),
    }


# --- unit ---------------------------------------------------------------------------------------


def test_routing_by_list_and_priority() -> None:
    routes = [
        Route(channel="webhook", target="http://a", lists=["stolen"]),
        Route(channel="mqtt", target="t/high", min_priority="high"),
        Route(channel="email", target="x@y", lists=["other"], min_priority="low"),
        Route(channel="webhook", target="http://a"),  # same target twice: delivered once
    ]
    assert [(r.channel, r.target) for r in targets_for(alert("a", priority="medium"), routes)] == [
        ("webhook", "http://a")
    ]
    assert [
        (r.channel, r.target) for r in targets_for(alert("a", priority="critical"), routes)
    ] == [("webhook", "http://a"), ("mqtt", "t/high")]
    assert [
        (r.channel, r.target)
        for r in targets_for(alert("a", list_id="other", priority="low"), routes)
    ] == [("email", "x@y"), ("webhook", "http://a")]


def test_signature_and_backoff() -> None:
    body = b'{"a":1}'
    expected = "sha256=" + hmac.new(b"k", b"123." + body, hashlib.sha256).hexdigest()
    assert sign("k", "123", body) == expected
    rng = random.Random(3)
    delays = [backoff_s(n, 0.5, 4.0, rng) for n in range(1, 8)]
    caps = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert all(0 <= d <= c for d, c in zip(delays, caps, strict=True))
    assert (
        delivery_id("a", "webhook", "u")
        == delivery_id("a", "webhook", "u")
        != delivery_id("a", "webhook", "v")
    )


def test_webhook_retries_then_succeeds_and_4xx_is_final() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if request.url.path == "/bad":
            return httpx.Response(400)
        return httpx.Response(500 if len([c for c in calls if c.url.path == "/ok"]) <= 2 else 204)

    slept: list[float] = []

    async def sleep(s: float) -> None:
        slept.append(s)

    async def go() -> tuple[Any, Any]:
        settings = NotifySettings(
            notify_max_attempts=5, notify_backoff_base_s=1.0, notify_webhook_secret="s3"
        )
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        n = Notifier(settings, http=client, sleep=sleep)
        ok = await n.deliver(alert("a1"), Route(channel="webhook", target="http://h/ok"))
        bad = await n.deliver(alert("a1"), Route(channel="webhook", target="http://h/bad"))
        await n.close()
        return ok, bad

    ok, bad = asyncio.run(go())
    assert (ok.status, ok.attempts) == ("delivered", 3)
    assert (bad.status, bad.attempts, bad.error) == ("failed", 1, "HTTP 400")
    assert len(slept) == 2 and slept[0] <= 1.0 and slept[1] <= 2.0
    req = calls[0]
    ts = req.headers["X-Platestream-Timestamp"]
    assert req.headers["X-Platestream-Signature"] == sign("s3", ts, req.content)
    assert json.loads(req.content)["alert_id"] == "a1"
    # Standard Webhooks headers: the id a receiver dedupes on, and the spec's signature
    assert req.headers["webhook-id"] == "a1" and req.headers["webhook-timestamp"] == ts
    assert req.headers["webhook-signature"] == standard_signature("s3", "a1", ts, req.content)


# --- integration --------------------------------------------------------------------------------


class _Hook(BaseHTTPRequestHandler):
    fail_first = 2
    posts: ClassVar[list[tuple[int, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        status = 500 if len(self.posts) < self.fail_first else 200
        type(self).posts.append((status, dict(self.headers), body))
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def _mosquitto_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.integration
def test_notifier_delivers_once_per_target_with_retries(settings, tmp_path) -> None:
    from aiosmtpd.controller import Controller

    _Hook.posts = []
    hook = ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    mails: list[Any] = []

    class Mailbox:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            mails.append(envelope)
            return "250 OK"

    smtp = Controller(Mailbox(), hostname="127.0.0.1", port=free_port())
    smtp.start()
    mqtt_topic = f"platestream/test/{uuid.uuid4().hex}"
    received: list[bytes] = []
    sub = None
    if _mosquitto_up():
        import paho.mqtt.client as mqtt

        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        sub.on_message = lambda c, u, m: received.append(bytes(m.payload))
        sub.connect("127.0.0.1", 1883)
        sub.subscribe(mqtt_topic, qos=1)
        sub.loop_start()
    hook_url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
    dead_url = f"http://127.0.0.1:{free_port()}/nobody"
    routes = [
        {"channel": "webhook", "target": hook_url, "lists": ["stolen"]},
        {"channel": "email", "target": "ops@example.org"},
        {"channel": "webhook", "target": dead_url, "lists": ["other"]},
    ]
    if sub is not None:
        routes.append({"channel": "mqtt", "target": mqtt_topic, "min_priority": "high"})
    env = {
        **os.environ,
        "PLATESTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PLATESTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "PLATESTREAM_NOTIFY_ROUTES": json.dumps(routes),
        "PLATESTREAM_NOTIFY_BACKOFF_BASE_S": "0.05",
        "PLATESTREAM_NOTIFY_MAX_ATTEMPTS": "4",
        "PLATESTREAM_NOTIFY_SMTP_PORT": str(smtp.port),
        "PLATESTREAM_NOTIFY_WEB_PORT": "0",
        "PLATESTREAM_NOTIFY_METRICS_PORT": "0",  # a fixed port collides with other runs
        "PLATESTREAM_NOTIFY_WEBHOOK_SECRET": "hook-secret",
        "PLATESTREAM_LOG_LEVEL": "WARNING",
    }
    pipe = Pipe(settings)
    first = alert("A-1")
    a_bytes = SERDE.encode("bolo_alert", first)
    second = alert("B-2", list_id="other", priority="low")
    topic = catalogue.ALERTS.name
    pipe.send(topic, None, "cam-n", a_bytes)
    pipe.send(topic, None, "cam-n", a_bytes)  # the same alert record seen twice
    pipe.send(topic, "bolo_alert", "cam-n", second)  # same key: handled after both copies
    pipe.flush()
    log = tmp_path / "notify.log"
    deliveries = TopicReader(settings, catalogue.ALERT_DELIVERIES.name)
    dlq = TopicReader(settings, catalogue.dead_letter_topic("notify").name)
    want = 4 + (1 if sub is not None else 0)

    def run_notifier(until: Any, also: Any = None) -> None:
        with stage_process("notify", env, log):
            if also is not None:
                also()
            until()

    third = alert("C-3")

    def replay_after_restart() -> None:
        # enrich restarted and re-emitted A (same alert id); then a new alert C on the same key
        pipe.send(topic, None, "cam-n", a_bytes)
        pipe.send(topic, "bolo_alert", "cam-n", third)
        pipe.flush()

    try:
        run_notifier(
            lambda: (
                deliveries.wait_for(lambda r: len(r) >= want, timeout=60),
                dlq.wait_for(lambda r: len(r) >= 1, timeout=10),
                deliveries.settle(1.0),
            )
        )
        got = list(deliveries.records)
        dead = list(dlq.records)
        posts_first_run = [p[0] for p in _Hook.posts]
        # a second notifier process recovers the delivered table from its changelog
        run_notifier(
            lambda: (
                deliveries.wait_for(
                    lambda r: (
                        any(d["alert_id"] == "C-3" for d in r[want:]) and len(r) >= 2 * want - 2
                    ),
                    timeout=60,
                ),
                deliveries.settle(1.0),
            ),
            also=replay_after_restart,
        )
        after_restart = deliveries.records[want:]
    finally:
        deliveries.close()
        dlq.close()
        hook.shutdown()
        smtp.stop()
        if sub is not None:
            sub.loop_stop()
            sub.disconnect()
    assert {d["alert_id"] for d in after_restart} == {"C-3"}, after_restart  # A not delivered again
    assert [p[0] for p in _Hook.posts] == [*posts_first_run, 200]
    by = {(d["alert_id"], d["channel"], d["target"]): d for d in got}
    assert len(got) == want, got
    hook_outcome = by[("A-1", "webhook", hook_url)]
    assert (hook_outcome["status"], hook_outcome["attempts"]) == ("delivered", 3)
    assert posts_first_run == [500, 500, 200]  # once delivered, never again
    headers, body = _Hook.posts[2][1], _Hook.posts[2][2]
    assert headers["X-Platestream-Signature"] == sign(
        "hook-secret", headers["X-Platestream-Timestamp"], body
    )
    assert by[("A-1", "email", "ops@example.org")]["status"] == "delivered"
    assert by[("B-2", "email", "ops@example.org")]["status"] == "delivered"
    assert len(mails) == 3  # A, B, and C after the restart
    failed = by[("B-2", "webhook", dead_url)]
    assert (failed["status"], failed["attempts"]) == ("failed", 4)
    assert dead[0]["value"] == SERDE.encode("bolo_alert", second) and dead[0]["stage"] == "notify"
    if sub is not None:
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
        assert by[("A-1", "mqtt", mqtt_topic)]["status"] == "delivered"
        assert [json.loads(m)["alert_id"] for m in received] == ["A-1", "C-3"]
