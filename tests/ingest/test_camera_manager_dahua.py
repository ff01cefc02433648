"""A camera of kind ``dahua`` on the cameras topic: the manager runs the Dahua connector with the
credentials from the secret store; its events land on the camera-events topic; disabling it
closes the stream with an offline status saying why."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest

from platestream import topics as catalogue
from platestream.secrets import SecretStore, camera_secret_name
from services.ingest.camera_service import camera_manager
from services.ingest.settings import IngestSettings
from tests.ingest.camera_helpers import Cameras, TopicReader

from .dahua_camera import FakeDahua
from .payloads import jpeg
from .test_connector import kv_event, wait_for

pytestmark = pytest.mark.integration


def test_dahua_camera_runs_the_connector_with_stored_credentials(settings, tmp_path: Path) -> None:
    secrets = SecretStore(tmp_path / "secrets")
    name = camera_secret_name("cam-dh")
    secrets.put(name, json.dumps({"username": "admin", "password": "cam-pass-1"}))
    s = IngestSettings(
        **{
            **settings.model_dump(),
            "ingest_cameras_metrics_port": 0,
            "ingest_secrets_dir": secrets.directory,
            "ingest_reconnect_min_s": 0.1,
            "ingest_reconnect_max_s": 0.5,
        }
    )
    cam = FakeDahua()
    cam.start()
    events = TopicReader(s, catalogue.CAMERA_EVENTS)
    status = TopicReader(s, catalogue.CAMERA_STATUS)
    stop = threading.Event()
    try:
        with camera_manager(s, stop, shared=False) as mgr:
            loop = threading.Thread(target=mgr.run, daemon=True)
            loop.start()
            cams = Cameras(s)
            cams.put("cam-dh", cam.base_url, kind="dahua", credentials_secret=name)
            wait_for(cam.connected.is_set)
            cam.send(kv_event(2001, 1700000100))
            cam.send(jpeg(320, 200), "image/jpeg")
            ev = events.wait_for(lambda r: r["camera_id"] == "cam-dh", 15, "the camera's event")
            assert ev["plate"] and len(ev["images"]) == 1
            assert cam.unauthorised >= 1  # challenged, then answered with the stored password
            cams.put("cam-dh", cam.base_url, kind="dahua", credentials_secret=name, enabled=False)
            # the connector sees the stop at the camera's next part: a Dahua camera sends a
            # heartbeat every 5 s on this stream (heartbeat=5 in the URL); so does this one
            beats = threading.Event()

            def heartbeats() -> None:
                while not beats.wait(1.0):
                    cam.send(b"Heartbeat")

            threading.Thread(target=heartbeats, daemon=True).start()
            try:
                status.wait_for(
                    lambda r: r["camera_id"] == "cam-dh" and r["reason"] == "disabled",
                    10,
                    "offline: disabled",
                )
            finally:
                beats.set()
            time.sleep(2)
            assert cam.connections == 1  # disabled: not reopened
            stop.set()
            loop.join(15)
    finally:
        stop.set()
        cam.stop()
        events.close()
        status.close()
