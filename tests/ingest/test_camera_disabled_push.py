"""A camera set to enabled=false on the cameras topic has its pushes refused with 403 by the
running push server (followed live: no restart), counted and not dead-lettered; enabling it again
lets pushes through."""

from __future__ import annotations

import json
import time

import pytest
from fastapi.testclient import TestClient

from platestream import topics as catalogue
from services.ingest.app import create_app
from services.ingest.processor import ingest_context
from tests.ingest.camera_helpers import Cameras, TopicReader

from .helpers import ingest_settings
from .payloads import generic_json

pytestmark = pytest.mark.integration
EDGE = {"x-api-key": "edge-secret-1"}  # device of camera cam-edge


def _until(check, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return False


def test_disabled_camera_pushes_get_403_counted_not_dead_lettered(settings) -> None:
    s = ingest_settings(settings)
    cams = Cameras(s)
    body = json.dumps(generic_json()).encode()
    with ingest_context(s, uploads=False) as ctx, TestClient(create_app(ctx)) as client:
        assert client.post("/push/generic", content=body, headers=EDGE).status_code == 200
        cams.put("cam-edge", None, enabled=False)
        assert _until(
            lambda: client.post("/push/generic", content=body, headers=EDGE).status_code == 403,
            10,
        ), "pushes of the disabled camera were not refused within 10 s"
        r = client.post("/push/generic", content=body, headers=EDGE)
        assert r.status_code == 403 and r.json()["error"] == "camera cam-edge is disabled"
        metrics = client.get("/metrics").text
        assert (
            'platestream_ingest_rejected_total{reason="camera-disabled",source="generic"}'
            in metrics
        )
        cams.put("cam-edge", None, enabled=True)
        assert _until(
            lambda: client.post("/push/generic", content=body, headers=EDGE).status_code == 200,
            10,
        )
    dlq = TopicReader(s, catalogue.dead_letter_topic("ingest"))
    time.sleep(1.0)
    dlq.mark()
    assert dlq.records == []
    dlq.close()
