"""Per-device MQTT logins on a real mosquitto: with the generated password and ACL files, a device
publishes as itself only and reads nobody's topic; the bridge maps topics back to devices."""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from typer.testing import CliRunner

from platestream import topics as catalogue
from platestream.mqttacl import (
    MqttAclError,
    acl_file,
    check_password,
    device_accounts,
    hash_password,
)
from platestream.stack.ports import free_port
from services.ingest.mqtt import MqttBridge
from services.ingest.processor import ingest_context
from services.ingest.settings import DeviceConfig
from tests.mosquitto import running_mosquitto

from .helpers import DEVICES, ingest_settings, read_topic
from .payloads import generic_json

SERVICE = ("platestream-ingest", "bridge-pass-5c1e")


def test_password_hash_is_mosquitto_passwd_format(tmp_path: Path) -> None:
    encoded = hash_password("s3cret-edge", salt=b"0123456789ab", iterations=101)
    assert encoded.startswith("$7$101$MDEyMzQ1Njc4OWFi$") and check_password("s3cret-edge", encoded)
    assert not check_password("s3cret-edgE", encoded)
    if shutil.which("mosquitto_passwd"):  # and ours reads what the tool writes
        pw = tmp_path / "pw"
        subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), "u", "tool-pass"], check=True)
        assert check_password("tool-pass", pw.read_text().strip().split(":", 1)[1])


def test_acl_gives_each_device_its_own_topic_only() -> None:
    devices = {
        "d1": DeviceConfig(camera_id="c1", secret="secret-d1"),
        "d2": DeviceConfig(camera_id="c2", secret="secret-d2", username="gate-2"),
    }
    text = acl_file(device_accounts(devices), root="lpr/data/edge", service_user="svc")
    blocks = [b.splitlines() for b in text.split("\n\n") if "user " in b]
    assert ["user svc", "topic read lpr/data/edge/+"] in blocks
    assert ["# device d1", "user d1", "topic write lpr/data/edge/d1"] in blocks
    assert ["# device d2", "user gate-2", "topic write lpr/data/edge/gate-2"] in blocks
    assert "pattern" not in text and "readwrite" not in text
    for bad in ("a/b", "x+", "#", "has space", "$SYS"):
        with pytest.raises(MqttAclError):
            device_accounts({"d": DeviceConfig(camera_id="c", secret="12345678", username=bad)})
    with pytest.raises(MqttAclError, match="more than one"):
        device_accounts(
            {
                "a": DeviceConfig(camera_id="c", secret="12345678", username="same"),
                "same": DeviceConfig(camera_id="c", secret="87654321"),
            }
        )


@contextlib.contextmanager
def mosquitto(files: Path) -> Iterator[int]:
    extra = f"allow_anonymous false\npassword_file {files / 'passwd'}\nacl_file {files / 'acl'}\n"
    with running_mosquitto(files, free_port(), extra) as port:
        yield port


def client(port: int, user: str, password: str) -> tuple[mqtt.Client, dict]:
    seen: dict = {"messages": [], "suback": None, "connect": None}
    c = mqtt.Client(
        callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
        client_id=f"{user}-{uuid.uuid4().hex[:6]}",
    )
    c.username_pw_set(user, password)
    c.on_message = lambda _c, _u, m: seen["messages"].append(m.topic)
    c.on_subscribe = lambda _c, _u, _mid, codes, _p: seen.__setitem__("suback", list(codes))
    c.on_connect = lambda _c, _u, _f, rc, _p: seen.__setitem__("connect", rc)
    c.connect("127.0.0.1", port)
    c.loop_start()
    deadline = time.monotonic() + 10
    while seen["connect"] is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return c, seen


def wait(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(predicate())


@pytest.mark.integration
@pytest.mark.skipif(not shutil.which("mosquitto"), reason="mosquitto (Debian) not installed")
def test_a_device_login_cannot_publish_or_read_as_another(settings, tmp_path: Path) -> None:
    root = f"t{uuid.uuid4().hex[:8]}/lpr/data/edge"
    s = ingest_settings(
        settings,
        ingest_mqtt_topic=f"{root}/+",
        ingest_mqtt_username=SERVICE[0],
        ingest_mqtt_password=SERVICE[1],
    )
    files = tmp_path / "mqtt"
    # the files come from the CLI command an operator runs, with the settings above
    from services.ingest import cli as ingest_cli

    env = {
        "PLATESTREAM_INGEST_DEVICES": json.dumps({k: v.model_dump() for k, v in DEVICES.items()}),
        "PLATESTREAM_INGEST_MQTT_TOPIC": f"{root}/+",
        "PLATESTREAM_INGEST_MQTT_USERNAME": SERVICE[0],
        "PLATESTREAM_INGEST_MQTT_PASSWORD": SERVICE[1],
    }
    from services.ingest.settings import ingest_settings as cached

    cached.cache_clear()
    try:
        run = CliRunner().invoke(ingest_cli.app, ["mqtt-acl", "--out", str(files)], env=env)
    finally:
        cached.cache_clear()
    assert run.exit_code == 0, run.output
    assert (files / "passwd").stat().st_mode & 0o777 == 0o600
    # a tester account that may publish anywhere under the root: the bridge must drop what
    # names no device (a broker with a looser ACL than ours)
    with (files / "passwd").open("a") as fh:
        fh.write(f"tester:{hash_password('tester-pass')}\n")
    with (files / "acl").open("a") as fh:
        fh.write(f"user tester\ntopic write {root}/#\n")

    with mosquitto(files) as port:
        s = s.model_copy(update={"ingest_mqtt_port": port})
        stop = threading.Event()
        with ingest_context(s, uploads=False) as ctx:
            bridge = MqttBridge(
                settings=s,
                publisher=ctx.publisher,
                dead_letters=ctx.dead_letters,
                stop=stop,
                client_id=f"bridge-{uuid.uuid4().hex[:6]}",
            )
            t = threading.Thread(target=bridge.run, daemon=True)
            t.start()
            assert bridge.subscribed.wait(10)
            edge, edge_seen = client(port, "edge-1", "edge-secret-1")
            alpr, _ = client(port, "alpr-1", "alpr-secret-1")
            tester, _ = client(port, "tester", "tester-pass")
            wrong, wrong_seen = client(port, "edge-1", "not-the-secret")
            assert edge_seen["connect"] == 0 and wrong_seen["connect"] != 0
            # edge-1 may not read alpr-1's topic (nor everyone's): mosquitto 2.0 grants the
            # SUBACK (a wildcard cannot be judged then) and checks read access on delivery
            edge.subscribe([(f"{root}/alpr-1", 1), (f"{root}/+", 1)])
            assert wait(lambda: edge_seen["suback"] is not None)

            def push(c: mqtt.Client, topic: str, plate: str) -> None:
                body = json.dumps(generic_json(plate, device_event_id=f"evt-{plate}")).encode()
                c.publish(topic, body, qos=1).wait_for_publish(5)

            push(edge, f"{root}/alpr-1", "SPOOF01")  # as alpr-1: the broker drops it
            push(tester, f"{root}/stranger", "NOBODY1")  # names no device: the bridge drops it
            push(edge, f"{root}/edge-1", "EDGE001")
            push(alpr, f"{root}/alpr-1", "ALPR001")
            assert wait(lambda: bridge.accepted >= 2 and bridge.dropped >= 1)
            time.sleep(0.5)
            assert (bridge.accepted, bridge.dropped, bridge.rejected) == (2, 1, 0)
            assert edge_seen["messages"] == []  # alpr-1's publish never reached edge-1
            for c in (edge, alpr, tester, wrong):
                c.loop_stop()
                c.disconnect()
            stop.set()
            t.join(timeout=10)
    records = read_topic(s, s.topic(catalogue.CAMERA_EVENTS.name), expect=3, timeout=8)
    got = sorted((r["camera_id"], r["plate"]) for _, r in records)
    assert got == [("cam-alpr", "ALPR001"), ("cam-edge", "EDGE001")]
