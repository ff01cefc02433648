"""MQTT bridge: edge devices publish plate events to ``lpr/data/edge/{device_id}``; we publish them
to Kafka and only then acknowledge.

Subscriptions are QoS 1 with paho's manual acknowledgement: a message is PUBACKed after the broker
acknowledged its camera events (or after it went to the dead-letter topic, for bad input). If
Kafka does not acknowledge, the message is left unacknowledged and the session is dropped, so the
MQTT broker delivers it again on reconnect (persistent session: fixed client id, clean_session off).
The payload may be any of the JSON formats (or Hikvision XML); ``formats.detect`` tells which.

Who sent a message is the broker's login, not the payload: each device logs in as its own user and
the broker's ACL (``platestream ingest mqtt-acl``, platestream/mqttacl.py) lets it publish to
``<root>/<its user name>`` only. The bridge maps a topic's last level back to the device through
the same user names (``username``, default the device id); a topic outside the root or naming no
registered device is dropped and counted (``rejected{source="mqtt",kind="topic"}``), not
dead-lettered, as unauthenticated HTTP pushes are.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import paho.mqtt.client as mqtt

from platestream.dlq import DeadLetters
from platestream.errors import BadInputError, SerdeError
from platestream.mqttacl import topic_root
from services.ingest.formats import parse_any
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import DeliveryError, EventPublisher
from services.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


class MqttBridge:
    """Subscribes to the edge topic and forwards each message as camera events."""

    def __init__(
        self,
        *,
        settings: IngestSettings,
        publisher: EventPublisher,
        dead_letters: DeadLetters,
        stop: threading.Event,
        metrics: IngestMetrics | None = None,
        client_id: str = "platestream-ingest",
    ) -> None:
        self._settings = settings
        self._publisher = publisher
        self._dlq = dead_letters
        self._stop = stop
        self._metrics = metrics
        self._devices = settings.devices()
        self._by_user = {(cfg.username or dev_id): dev_id for dev_id, cfg in self._devices.items()}
        self._root = topic_root(settings.ingest_mqtt_topic)
        self.subscribed = threading.Event()
        self.accepted = 0
        self.rejected = 0
        self.dropped = 0  # topics that name no registered device's login
        self.client = mqtt.Client(
            callback_api_version=mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=False,
            manual_ack=True,
        )
        if settings.ingest_mqtt_username:
            self.client.username_pw_set(
                settings.ingest_mqtt_username, settings.ingest_mqtt_password
            )
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a, **_k: self.subscribed.set()

    def _on_connect(
        self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any = None
    ) -> None:
        if getattr(reason, "is_failure", False):
            logger.error("MQTT connect refused: %s", reason)
            return
        client.subscribe(self._settings.ingest_mqtt_topic, qos=1)
        logger.info("MQTT subscribed to %s", self._settings.ingest_mqtt_topic)

    def _reject(self, msg: mqtt.MQTTMessage, reason: str, device_id: str, source: str) -> None:
        self.rejected += 1
        if self._metrics is not None:
            self._metrics.rejected.labels(source, "mqtt").inc()
        logger.warning("MQTT message on %s rejected: %s", msg.topic, reason)
        self._dlq.raw(
            bytes(msg.payload),
            reason,
            key=device_id.encode(),
            headers={"mqtt_topic": msg.topic},
            content_type=None,
        )
        self._dlq._producer.flush(self._settings.ingest_ack_timeout_s)

    def device_for(self, topic: str) -> str | None:
        """The device whose login may publish to ``topic`` (``<root>/<user>``), or None."""
        root, _, user = topic.rpartition("/")
        return self._by_user.get(user) if root == self._root else None

    def _on_message(self, client: mqtt.Client, _userdata: Any, msg: mqtt.MQTTMessage) -> None:
        device_id = self.device_for(msg.topic)
        device = self._devices.get(device_id) if device_id is not None else None
        try:
            if device_id is None or device is None:
                self.dropped += 1
                if self._metrics is not None:
                    self._metrics.rejected.labels("mqtt", "topic").inc()
                logger.warning(
                    "MQTT message on %r dropped: no device logs in as it", msg.topic[:200]
                )
            else:
                try:
                    fmt, events = parse_any(bytes(msg.payload))
                    if events:
                        self._publisher.publish_sync(events, camera_id=device.camera_id)
                except (BadInputError, SerdeError) as exc:
                    self._reject(msg, str(exc), device_id, "mqtt")
                else:
                    if events and self._metrics is not None:
                        self._metrics.events.labels(fmt).inc(len(events))
                    self.accepted += 1
        except (DeliveryError, TimeoutError) as exc:
            logger.error(
                "MQTT message on %s not acknowledged by Kafka (%s): dropping the session for redelivery",
                msg.topic,
                exc,
            )
            client.disconnect()
            return
        client.ack(msg.mid, msg.qos)

    def run(self) -> None:
        self.client.connect(
            self._settings.ingest_mqtt_host, self._settings.ingest_mqtt_port, keepalive=30
        )
        self.client.loop_start()
        try:
            self._stop.wait()
        finally:
            self.client.disconnect()
            self.client.loop_stop()
