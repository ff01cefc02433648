"""Frame sources: gate, backoff, URL handling; sim:// cameras into anpr.frames.v1; uploads."""

from __future__ import annotations

import itertools
import random
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from platestream import topics as catalogue
from services.ingest import sim
from services.ingest.app import create_app
from services.ingest.frames import (
    CameraSpec,
    FrameGate,
    FramePublisher,
    FrameSourceProcessor,
    backoff_delays,
)
from services.ingest.processor import ingest_context
from services.ingest.status import StatusPublisher
from services.ingest.video_sources import open_frames, redact

from .helpers import ingest_settings, read_topic


def test_gate_fps_duplicates_motion() -> None:
    gate = FrameGate(fps=5, dup_threshold=1.0, motion_threshold=0.0, keepalive_s=10)
    a = np.zeros((72, 128, 3), np.uint8)
    b = a.copy()
    b[:, :64] = 255
    assert gate.check(0, a) is None
    assert gate.check(100, b) == "fps"
    assert gate.check(200, a) == "duplicate"
    assert gate.check(300, b) == "fps"  # sampling goes on at 5 fps from the duplicate
    assert gate.check(400, b) is None
    assert gate.check(11_000, b) is None  # keepalive: a stale duplicate is sent anyway
    moving = FrameGate(fps=100, dup_threshold=0.5, motion_threshold=20.0)
    c = a.copy()
    c[:10, :10] = 255
    assert (
        moving.check(0, a) is None
        and moving.check(100, c) == "no-motion"
        and moving.check(200, b) is None
    )


def test_backoff_grows_with_jitter_and_caps() -> None:
    delays = [
        d for _, d in zip(range(12), backoff_delays(0.5, 8.0, random.Random(1)), strict=False)
    ]
    assert all(0.5 <= d <= 8.0 for d in delays)
    assert max(delays[6:]) > max(delays[:2])


def test_redact_and_sim_source() -> None:
    assert redact("rtsp://admin:pw@10.0.0.5:554/s1") == "rtsp://10.0.0.5:554/s1"
    frames = list(
        open_frames("sim://scene?seed=9&fps=10&duration=0.5&width=320&height=180", realtime=False)
    )
    assert len(frames) == 5 and frames[0][1].shape == (180, 320, 3)
    assert frames[1][0] - frames[0][0] == 100


@pytest.mark.integration
def test_sim_cameras_publish_frames_and_status(settings) -> None:
    s = ingest_settings(settings, ingest_frame_fps=5.0, ingest_heartbeat_s=0.2)
    with ingest_context(s, uploads=False) as ctx:
        frames = FramePublisher(producer=ctx.producer, serde=ctx.serde, settings=s, store=None)
        status = StatusPublisher(producer=ctx.producer, serde=ctx.serde, settings=s)
        specs = [
            CameraSpec("cam-a", "sim://scene?seed=1&fps=20&duration=3"),
            CameraSpec("cam-b", "sim://scene?seed=2&fps=20&duration=3"),
        ]
        proc = FrameSourceProcessor(
            cameras=specs,
            frames=frames,
            status=status,
            settings=s,
            stop=threading.Event(),
            realtime=False,
            reconnect=False,
        )
        proc.run()
        ctx.producer.producer.flush(10)
    sent = sum(w.sent for w in proc.workers)
    assert all(w.skipped.get("fps", 0) > 0 for w in proc.workers)  # 20 fps in, capped at 5
    # 3 s at 5 fps = 15 per camera, less the identical frames of an empty road
    assert all(w.sent + w.skipped.get("duplicate", 0) == 15 and w.sent >= 10 for w in proc.workers)
    records = read_topic(s, s.topic(catalogue.FRAMES.name), expect=sent)
    assert len(records) == sent
    by_cam: dict[str, list] = {}
    for key, r in records:
        assert key == r["camera_id"].encode() and r["source"] == "sim"
        by_cam.setdefault(r["camera_id"], []).append(r)
    for cam, seed in (("cam-a", 1), ("cam-b", 2)):
        rs = sorted(by_cam[cam], key=lambda r: r["seq"])
        assert [r["seq"] for r in rs] == list(range(len(rs)))
        t0 = rs[0]["ts"]
        # the frame at scene time t shows the ground truth at t: decode one and compare a plate region
        r = next(
            r
            for r in rs
            if any(g["plate_fully_visible"] for g in sim.ground_truth(seed, (r["ts"] - t0) / 1000))
        )
        img = cv2.imdecode(np.frombuffer(r["image"]["data"], np.uint8), cv2.IMREAD_COLOR)
        expected, _ = sim.render_frame(seed, (r["ts"] - t0) / 1000)
        assert (
            img.shape == expected.shape
            and float(np.abs(img.astype(int) - expected.astype(int)).mean()) < 3.0
        )
    states = [r["state"] for _, r in read_topic(s, s.topic(catalogue.CAMERA_STATUS.name), expect=4)]
    assert states.count("online") == 2 and states.count("offline") == 2


def _video(path: Path, n: int = 20, fps: float = 10.0) -> Path:
    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), fps, (320, 180))
    assert out.isOpened()
    for i in range(n):
        img, _ = sim.render_frame(4, 3.0 + i / fps, size=(320, 180))
        out.write(img)
    out.release()
    return path


@pytest.mark.integration
def test_video_upload_job(settings, tmp_path) -> None:
    s = ingest_settings(settings, ingest_upload_fps=5.0, ingest_upload_dir=tmp_path / "spool")
    video = _video(tmp_path / "clip.avi")
    with ingest_context(s) as ctx, TestClient(create_app(ctx)) as client:
        r = client.post(
            "/api/v1/uploads?recorded_at=2025-01-01T00:00:00Z",
            content=video.read_bytes(),
            headers={"x-api-key": "edge-secret-1", "content-type": "video/x-msvideo"},
        )
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        deadline = time.monotonic() + 30
        while (
            st := client.get(
                f"/api/v1/uploads/{job_id}", headers={"x-api-key": "edge-secret-1"}
            ).json()
        )["state"] in ("queued", "running"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert st["state"] == "done" and st["progress"] == 1.0 and st["frames_read"] == 20
        assert st["frames_sent"] == 10  # 2 s of video at 5 fps
        assert (
            client.get(
                f"/api/v1/uploads/{job_id}", headers={"x-api-key": "hik-secret-1"}
            ).status_code
            == 404
        )
        multi = client.post(
            "/api/v1/uploads",
            files={"file": ("clip.avi", video.read_bytes(), "video/x-msvideo")},
            headers={"x-api-key": "edge-secret-1"},
        )
        assert multi.status_code == 202 and multi.json()["filename"] == "clip.avi"
        job2 = multi.json()["job_id"]
        while (
            st2 := client.get(
                f"/api/v1/uploads/{job2}", headers={"x-api-key": "edge-secret-1"}
            ).json()
        )["state"] in ("queued", "running"):
            assert time.monotonic() < deadline + 30
            time.sleep(0.1)
        assert st2["state"] == "done" and st2["frames_sent"] == 10
        bad = client.post(
            "/api/v1/uploads",
            content=b"not a video at all" * 100,
            headers={"x-api-key": "edge-secret-1"},
        )
        assert bad.status_code == 415
    records = read_topic(s, s.topic(catalogue.FRAMES.name), expect=20)
    first = [r for _, r in records if r["job_id"] == job_id]
    assert len(records) == 20 and len(first) == 10
    assert all(r["source"] == "upload" for _, r in records)
    assert min(r["ts"] for r in first) == 1735689600000


class _Status:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, camera_id: str, state: str, **_kw: object) -> None:
        self.sent.append((camera_id, state))


def test_unreachable_camera_retries_and_reports_offline_once(tmp_path) -> None:
    from services.ingest.frames import CameraWorker
    from services.ingest.settings import IngestSettings

    s = IngestSettings(ingest_reconnect_min_s=0.01, ingest_reconnect_max_s=0.02)
    status = _Status()
    stop = threading.Event()
    worker = CameraWorker(
        spec=CameraSpec("cam-x", str(tmp_path / "missing.mp4")),
        frames=None,
        status=status,  # type: ignore[arg-type]
        settings=s,
        stop=stop,
        realtime=False,
        reconnect=True,
    )
    worker.thread.start()
    time.sleep(0.5)
    stop.set()
    worker.thread.join(timeout=5)
    assert not worker.thread.is_alive()
    assert status.sent == [("cam-x", "offline")]


def test_file_source_through_opencv(tmp_path) -> None:
    video = _video(tmp_path / "clip.avi", n=12, fps=10.0)
    frames = list(open_frames(str(video), realtime=False))
    assert len(frames) == 12 and frames[0][1].shape == (180, 320, 3)
    assert [b[0] - a[0] for a, b in itertools.pairwise(frames)] == [100] * 11
