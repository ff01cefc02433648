"""Edge devices over MQTT: every JSON format (detected) reaches camera-events; bad ones dead-letter."""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid

import paho.mqtt.client as mqtt
import pytest

from platestream import topics as catalogue
from services.ingest.mqtt import MqttBridge
from services.ingest.processor import ingest_context

from .helpers import ingest_settings, read_topic
from .payloads import OPENALPR, axis_json, generic_json, platerecognizer_json, sample

pytestmark = pytest.mark.integration


def mosquitto_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not mosquitto_up(), reason="no MQTT broker on 127.0.0.1:1883")
def test_mqtt_edge_payloads(settings) -> None:
    root = f"test-{uuid.uuid4().hex[:8]}/lpr/data/edge"
    s = ingest_settings(settings, ingest_mqtt_topic=f"{root}/+")
    stop = threading.Event()
    with ingest_context(s, uploads=False) as ctx:
        bridge = MqttBridge(
            settings=s,
            publisher=ctx.publisher,
            dead_letters=ctx.dead_letters,
            stop=stop,
            client_id=f"platestream-ingest-test-{uuid.uuid4().hex[:6]}",
        )
        t = threading.Thread(target=bridge.run, daemon=True)
        t.start()
        assert bridge.subscribed.wait(10)
        pub = mqtt.Client(callback_api_version=mqtt.CallbackAPIVersion.VERSION2)
        pub.connect("127.0.0.1", 1883)
        pub.loop_start()
        payloads = [
            ("alpr-1", sample(OPENALPR)),
            ("pr-1", json.dumps(platerecognizer_json()).encode()),
            ("axis-1", json.dumps(axis_json()).encode()),
            ("edge-1", json.dumps(generic_json()).encode()),
            ("edge-1", b"{broken"),
            ("stranger", json.dumps(generic_json()).encode()),
        ]
        for device, payload in payloads:
            pub.publish(f"{root}/{device}", payload, qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 15
        while (
            bridge.accepted + bridge.rejected + bridge.dropped < len(payloads)
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        pub.loop_stop()
        pub.disconnect()
        stop.set()
        t.join(timeout=10)
        # the stranger's topic names no device login: dropped and counted, not dead-lettered
        assert (bridge.accepted, bridge.rejected, bridge.dropped) == (4, 1, 1)
    records = read_topic(s, s.topic(catalogue.CAMERA_EVENTS.name), expect=4)
    got = sorted((r["camera_id"], r["source"], r["plate"]) for _, r in records)
    assert got == [
        ("cam-alpr", "openalpr", "A424761"),
        ("cam-axis", "axis", "RZ3832H"),
        ("cam-edge", "generic", "AB12CDE"),
        ("cam-pr", "platerecognizer", "9JUB11"),
    ]
    dlq = read_topic(s, s.topic(catalogue.dead_letter_topic("ingest").name), expect=2, timeout=5)
    assert [d["value"][:7] for _, d in dlq] == [b"{broken"]
