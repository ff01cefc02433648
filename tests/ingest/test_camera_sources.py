"""A camera source that cannot be opened is an offline status with the reason, retried with
backoff, paused after too many restarts, and stopped promptly; it never raises."""

from __future__ import annotations

import time
from typing import Any

import pytest

from services.ingest.camera_config import CameraConfig
from services.ingest.camera_sources import CameraRunner
from services.ingest.settings import IngestSettings


class Status:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str | None]] = []

    def send(self, camera_id: str, state: str, **kw: Any) -> None:
        self.sent.append((state, kw.get("reason")))


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("/nonexistent/video.mp4", "cannot open /nonexistent/video.mp4"),
        ("sim://scene?fps=abc", "bad sim URL"),
        ("rtsp://", "cannot open rtsp://"),
    ],
)
def test_unopenable_source_is_offline_backs_off_and_pauses(url: str, reason: str) -> None:
    settings = IngestSettings(
        ingest_reconnect_min_s=0.01,
        ingest_reconnect_max_s=0.02,
        ingest_camera_restart_limit=3,
        ingest_camera_restart_window_s=60,
        ingest_camera_cooloff_s=30,
    )
    status = Status()
    runner = CameraRunner(
        config=CameraConfig(camera_id="cam-x", stream_url=url),
        frames=None,  # type: ignore[arg-type]  # never reached: nothing opens
        status=status,  # type: ignore[arg-type]
        settings=settings,
        secrets=None,
        manager_id="m",
    ).start()
    deadline = time.monotonic() + 20
    while not any("paused" in (r or "") for _, r in status.sent):
        assert time.monotonic() < deadline, status.sent
        time.sleep(0.05)
    assert runner.alive() and runner.restarts == 4
    first = status.sent[0]
    assert first[0] == "offline" and reason in (first[1] or "")
    # the same reason is reported once, not once per retry; then the pause with its reason
    assert status.sent[1] == ("offline", f"4 restarts in 60s; paused for 30s (last: {first[1]})")
    t0 = time.monotonic()
    assert runner.stop("disabled", 5.0) and time.monotonic() - t0 < 2.0
    assert status.sent[-1] == ("offline", "disabled")


def test_unreadable_secret_is_a_reason_not_a_crash(tmp_path) -> None:
    from platestream.secrets import SecretStore

    store = SecretStore(tmp_path)
    store.put("camera-cam-y-stream", "not json")
    status = Status()
    runner = CameraRunner(
        config=CameraConfig(
            camera_id="cam-y",
            stream_url="rtsp://192.0.2.1/stream",
            credentials_secret="camera-cam-y-stream",
        ),
        frames=None,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        settings=IngestSettings(ingest_reconnect_min_s=5, ingest_reconnect_max_s=5),
        secrets=store,
        manager_id="m",
    ).start()
    deadline = time.monotonic() + 5
    while not status.sent:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert status.sent[0] == (
        "offline",
        "credentials: secret camera-cam-y-stream is not JSON with username and password",
    )
    assert runner.stop("deleted", 2.0)
