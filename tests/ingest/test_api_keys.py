"""A device key published by the API on the compacted api-keys topic authorises pushes."""

from __future__ import annotations

import hashlib
import json
import time

import pytest
from fastapi.testclient import TestClient

from platestream import topics as catalogue
from platestream.kafka import make_producer
from platestream.serde import AvroSerde
from services.ingest.app import create_app
from services.ingest.processor import ingest_context

from .helpers import ingest_settings, read_topic
from .payloads import generic_json

pytestmark = pytest.mark.integration


def test_device_key_from_topic(settings) -> None:
    topic = settings.topic(catalogue.API_KEYS.name)
    serde = AvroSerde(settings.schema_registry_url)
    producer = make_producer(settings)
    for key_id, secret, role in (
        ("psk_dev1", "s3cr3t-device", "device"),
        ("psk_view", "s3cr3t-viewer", "viewer"),
    ):
        record = {
            "key_id": key_id,
            "name": key_id,
            "owner": "ops",
            "role": role,
            "key_hash": hashlib.sha256(secret.encode()).hexdigest(),
            "camera_ids": ["cam-key"],
            "revoked": False,
            "created_at": 1_750_000_000_000,
        }
        producer.produce(
            topic,
            key=key_id.encode(),
            value=serde.encode("api_key", record, subject=f"{topic}-value"),
        )
    assert producer.flush(10) == 0
    s = ingest_settings(settings, ingest_api_keys=True)
    body = json.dumps(generic_json()).encode()
    with ingest_context(s, uploads=False) as ctx, TestClient(create_app(ctx)) as client:
        deadline = time.monotonic() + 20
        while (
            r := client.post(
                "/push/generic", content=body, headers={"x-api-key": "psk_dev1.s3cr3t-device"}
            )
        ).status_code == 401:
            assert time.monotonic() < deadline, "the key never arrived from the topic"
            time.sleep(0.2)
        assert r.status_code == 200, r.text
        assert (
            client.post(
                "/push/generic", content=body, headers={"x-api-key": "psk_view.s3cr3t-viewer"}
            ).status_code
            == 401
        )
        r2 = client.post(
            "/push/generic?camera_id=cam-other",
            content=body,
            headers={"x-api-key": "psk_dev1.s3cr3t-device"},
        )
        assert r2.status_code == 403
    [(key, rec)] = read_topic(s, s.topic(catalogue.CAMERA_EVENTS.name), expect=1)
    assert key == b"cam-key" and rec["plate"] == "AB12CDE"
