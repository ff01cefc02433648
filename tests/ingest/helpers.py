"""Integration helpers: read a topic from the beginning, build ingest settings from the harness's."""

from __future__ import annotations

import time
import uuid
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, TopicPartition

from platestream.kafka import make_consumer
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from services.ingest.settings import DeviceConfig, IngestSettings

DEVICES = {
    "hik-1": DeviceConfig(
        camera_id="cam-hik", secret="hik-secret-1", username="admin", rate_per_s=1000, burst=1000
    ),
    "dahua-1": DeviceConfig(
        camera_id="cam-dahua", secret="dahua-secret-1", rate_per_s=1000, burst=1000
    ),
    "alpr-1": DeviceConfig(
        camera_id="cam-alpr", secret="alpr-secret-1", rate_per_s=1000, burst=1000
    ),
    "pr-1": DeviceConfig(camera_id="cam-pr", secret="pr-secret-1", rate_per_s=1000, burst=1000),
    "axis-1": DeviceConfig(
        camera_id="cam-axis", secret="axis-secret-1", rate_per_s=1000, burst=1000
    ),
    "edge-1": DeviceConfig(
        camera_id="cam-edge", secret="edge-secret-1", rate_per_s=1000, burst=1000
    ),
    "slow-1": DeviceConfig(camera_id="cam-slow", secret="slow-secret-1", rate_per_s=0.5, burst=2),
}


def ingest_settings(settings: CommonSettings, **extra: Any) -> IngestSettings:
    fields = {"ingest_devices": DEVICES, "ingest_api_keys": False, **extra}
    return IngestSettings(**{**settings.model_dump(), **fields})


def read_topic(
    settings: CommonSettings, topic: str, *, expect: int, timeout: float = 20.0
) -> list[tuple[bytes | None, dict[str, Any]]]:
    """(key, decoded value) of the first ``expect`` records of ``topic`` (all partitions, from the start)."""
    serde = AvroSerde(settings.schema_registry_url)
    consumer = make_consumer(settings, f"test-read-{uuid.uuid4().hex[:8]}")
    try:
        meta = consumer.list_topics(topic, timeout=10)
        parts = meta.topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        out: list[tuple[bytes | None, dict[str, Any]]] = []
        deadline = time.monotonic() + timeout
        while len(out) < expect and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=0.5):
                if msg.error() or msg.value() is None:
                    continue
                out.append((msg.key(), serde.decode(msg.value())))
        return out
    finally:
        consumer.close()
