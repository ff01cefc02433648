"""Alert routes through the API: a test send reaches a local webhook receiver and a local MQTT
broker that requires a login; a route created through the API is used by a running notifier for
a real alert, and disabling it takes effect, with no restart."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platestream import topics as catalogue
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms
from services.enrich.notify import sign

from .helpers import ApiEnv, api_environment, free_port, produce, wait_until
from .receivers import mosquitto_available, mosquitto_with_password, webhook_receiver

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def api_env(stack: CommonSettings) -> Iterator[ApiEnv]:
    """An API environment of this module's own: the alerts these tests produce would otherwise
    reach the shared environment's alerts table, whose exact contents other tests check."""
    overrides = {
        "api_allow_private_targets": True,
        "api_ingest_url": f"http://127.0.0.1:{free_port()}",
    }
    with api_environment(stack, **overrides) as env:
        yield env


def create(api_env: ApiEnv, **route: Any) -> dict[str, Any]:
    r = api_env.post("/api/v1/alert-routes", json=route)
    assert r.status_code == 201, r.text
    return dict(r.json())


def send_test(api_env: ApiEnv, route_id: str) -> dict[str, Any]:
    r = api_env.post(f"/api/v1/alert-routes/{route_id}/test")
    assert r.status_code == 200, r.text
    return dict(r.json())


def test_webhook_route_validation_and_send_test(api_env: ApiEnv) -> None:
    bad = api_env.post("/api/v1/alert-routes", json={"channel": "webhook", "target": "not a url"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "target"]
    no_host = api_env.post("/api/v1/alert-routes", json={"channel": "mqtt", "target": "a/b"})
    assert no_host.status_code == 422 and no_host.json()["detail"][0]["loc"] == ["body", "host"]
    with webhook_receiver() as hook:
        secret = "route-signing-secret-0123456789"
        route = create(
            api_env,
            name="barrier",
            channel="webhook",
            target=f"{hook.url}/barrier",
            secret=secret,
            lists=["stolen"],
            min_priority="high",
        )
        assert route["has_secret"] and route["secret"] is None  # given, so not echoed
        listed = api_env.get("/api/v1/alert-routes").json()
        assert secret not in json.dumps(listed)
        result = send_test(api_env, route["route_id"])
        assert result["status"] == "delivered", result
        [(path, headers, body)] = hook.posts
        assert path == "/barrier" and json.loads(body)["plate"] == "TEST000"
        assert headers["x-platestream-signature"] == sign(
            secret, headers["x-platestream-timestamp"], body
        )
        generated = create(api_env, channel="webhook", target=f"{hook.url}/gen")
        assert generated["secret"] and len(generated["secret"]) >= 32  # shown once
    dead = send_test(api_env, generated["route_id"])  # the receiver is gone
    assert dead["status"] == "failed" and dead["error"]


@pytest.mark.skipif(not mosquitto_available(), reason="mosquitto (Debian) not installed")
def test_mqtt_route_with_login_send_test(api_env: ApiEnv, tmp_path: Path) -> None:
    import paho.mqtt.client as mqtt

    with mosquitto_with_password(tmp_path) as broker:
        topic = f"platestream/alerts/{uuid.uuid4().hex[:8]}"
        got: list[bytes] = []
        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        sub.username_pw_set(broker.username, broker.password)
        sub.on_message = lambda _c, _u, m: got.append(m.payload)
        sub.on_connect = lambda c, *_a: c.subscribe(topic, qos=1)
        sub.connect("127.0.0.1", broker.port)
        sub.loop_start()
        try:
            base = {"channel": "mqtt", "target": topic, "host": "127.0.0.1", "port": broker.port}
            good = create(api_env, **base, username=broker.username, password=broker.password)
            wrong = create(api_env, **base, username=broker.username, password="wrong-password")
            result = send_test(api_env, good["route_id"])
            assert result["status"] == "delivered", result
            wait_until(lambda: got, 10, "the test alert on the broker")
            assert json.loads(got[0])["plate"] == "TEST000"
            refused = send_test(api_env, wrong["route_id"])
            assert refused["status"] == "failed" and "MQTT" in (refused["error"] or "")
            assert len(got) == 1
        finally:
            sub.loop_stop()
            sub.disconnect()


@contextlib.contextmanager
def notifier(api_env: ApiEnv, log: Path) -> Iterator[None]:
    s = api_env.settings
    env = {
        **os.environ,
        "PLATESTREAM_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "PLATESTREAM_TOPIC_PREFIX": s.topic_prefix,
        "PLATESTREAM_NOTIFY_SECRETS_DIR": str(s.secrets_dir),
        "PLATESTREAM_NOTIFY_ALLOW_PRIVATE_TARGETS": "true",
        "PLATESTREAM_NOTIFY_WEB_PORT": "0",
        "PLATESTREAM_NOTIFY_METRICS_PORT": "0",  # a fixed port collides with other runs
        "PLATESTREAM_NOTIFY_MAX_ATTEMPTS": "2",
        "PLATESTREAM_LOG_LEVEL": "WARNING",
    }
    with log.open("ab") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "platestream.cli", "notify"], env=env, stdout=fh, stderr=fh
        )
        try:
            yield
        except (AssertionError, TimeoutError) as exc:
            raise AssertionError(f"{exc}\nnotify log:\n{log.read_text()[-3000:]}") from None
        finally:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def alert(list_id: str) -> dict[str, Any]:
    ts = now_ms()
    return {
        "alert_id": uuid.uuid4().hex,
        "entry_id": "e-route",
        "list_id": list_id,
        "list_kind": "bolo",
        "pattern": "ROUTE01",
        "match_type": "exact",
        "reason": "route test",
        "priority": "high",
        "owner": "operator",
        "event_id": uuid.uuid4().hex,
        "camera_id": "cam-route",
        "plate": "ROUTE01",
        "confidence": 0.97,
        "ts": ts,
        "early": False,
        "emitted_at": ts,
    }


def test_running_notifier_follows_routes_created_and_disabled_through_the_api(
    api_env: ApiEnv, tmp_path: Path
) -> None:
    list_id = f"hot-{uuid.uuid4().hex[:6]}"
    sent: list[str] = []

    def send_one() -> None:
        a = alert(list_id)
        sent.append(a["alert_id"])
        produce(api_env.settings, catalogue.ALERTS, "bolo_alert", [a])

    def ids(hook: Any, path: str) -> set[str]:
        return {json.loads(b)["alert_id"] for b in hook.bodies(path)}

    with webhook_receiver() as hook, notifier(api_env, tmp_path / "notify.log"):
        # the route is created while notify runs
        a = create(api_env, channel="webhook", target=f"{hook.url}/a", lists=[list_id])

        def reached(path: str) -> bool:
            if ids(hook, path) & set(sent):
                return True
            send_one()
            return False

        wait_until(lambda: reached("/a"), 60, "an alert at the API-created route", 1.0)
        r = api_env.http.patch(
            f"/api/v1/alert-routes/{a['route_id']}",
            json={"enabled": False},
            headers=api_env.headers("admin"),
        )
        assert r.status_code == 200 and r.json()["enabled"] is False
        # A second route created after the disable: once an alert reaches it, notify had applied
        # the disable too (one partition, in order), so that alert must not reach /a.
        create(api_env, channel="webhook", target=f"{hook.url}/b", lists=[list_id])
        sent.clear()
        wait_until(lambda: reached("/b"), 30, "an alert at the second route", 1.0)
        at_b = ids(hook, "/b")
        assert at_b and not (at_b & ids(hook, "/a"))
        # a Kafka route: notify produces the alert's JSON to the route's topic
        with route_topic(api_env) as (topic, consumer):
            create(api_env, channel="kafka", target=topic, lists=[list_id])
            on_topic: set[str] = set()

            def reached_topic() -> bool:
                for m in consumer.consume(50, 0.5):
                    if not m.error():
                        on_topic.add(json.loads(m.value())["alert_id"])
                if on_topic & set(sent):
                    return True
                send_one()
                return False

            wait_until(reached_topic, 30, "an alert on the Kafka route's topic", 0.5)


@contextlib.contextmanager
def route_topic(api_env: ApiEnv) -> Iterator[tuple[str, Any]]:
    """A topic of our own for a Kafka route, and a consumer on it; both removed after."""
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition
    from confluent_kafka.admin import NewTopic

    from platestream.kafka import make_admin, make_consumer

    topic = f"site.alerts.{uuid.uuid4().hex[:8]}"
    admin = make_admin(api_env.settings)
    for fut in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        fut.result(10)
    consumer = make_consumer(api_env.settings, f"test-{uuid.uuid4().hex[:6]}")
    consumer.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    try:
        yield topic, consumer
    finally:
        consumer.close()
        admin.delete_topics([topic])


def test_email_route_with_smtp_login_and_kafka_route_test_sends(api_env: ApiEnv) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from .helpers import free_port

    mails: list[Any] = []
    logins: list[tuple[bytes, bool]] = []

    class Mailbox:
        async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
            mails.append(envelope)
            return "250 OK"

    def authenticator(_s: Any, _session: Any, _e: Any, _mech: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.password == b"smtp-pass-1"
        logins.append((data.login, ok))
        return AuthResult(success=ok)

    smtp = Controller(
        Mailbox(),
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator,
        auth_require_tls=False,
        auth_required=True,
    )
    smtp.start()
    try:
        base = {
            "channel": "email",
            "target": "control-room@example.org",
            "host": "127.0.0.1",
            "port": smtp.port,
            "username": "notifier",
            "sender": "platestream@example.org",
        }
        good = create(api_env, **base, password="smtp-pass-1")
        bad = create(api_env, **base, password="nope")
        assert send_test(api_env, good["route_id"])["status"] == "delivered"
        [mail] = mails
        assert mail.rcpt_tos == ["control-room@example.org"] and b"TEST000" in mail.content
        refused = send_test(api_env, bad["route_id"])
        assert refused["status"] == "failed" and refused["error"].startswith("SMTP")
        assert logins[0] == (b"notifier", True) and (b"notifier", False) in logins
        assert len(mails) == 1
    finally:
        smtp.stop()

    with route_topic(api_env) as (topic, consumer):
        route = create(api_env, channel="kafka", target=topic)
        assert send_test(api_env, route["route_id"])["status"] == "delivered"
        msg = wait_until(
            lambda: next((m for m in consumer.consume(10, 0.5) if not m.error()), None),
            15,
            "the test alert on the Kafka route's topic",
        )
        assert json.loads(msg.value())["plate"] == "TEST000"


def test_routes_choose_what_they_receive(api_env: ApiEnv) -> None:
    plain = create(api_env, channel="kafka", target=f"ops.kinds-{uuid.uuid4().hex[:6]}")
    assert plain["kinds"] == ["watchlist"]  # as every route made before kinds existed
    chosen = create(
        api_env,
        channel="kafka",
        target=f"ops.kinds-{uuid.uuid4().hex[:6]}",
        kinds=["clone", "overstay"],
    )
    assert chosen["kinds"] == ["clone", "overstay"]
    listed = {r["route_id"]: r for r in api_env.get("/api/v1/alert-routes").json()}
    assert listed[chosen["route_id"]]["kinds"] == ["clone", "overstay"]
    for kinds in (["convoy"], []):
        bad = api_env.post(
            "/api/v1/alert-routes", json={"channel": "kafka", "target": "ops.x", "kinds": kinds}
        )
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"][:2] == ["body", "kinds"]
