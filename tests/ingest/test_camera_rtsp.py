"""A real RTSP server (GStreamer's, from Debian) streams a video file made in the test into the
camera manager; detect reads its plates; the server killed gives an offline status, restarted an
online one, and reads resume."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from platestream import topics as catalogue
from platestream.bench.harness import stage_env
from platestream.stack.ports import free_port
from services.ingest import sim
from services.ingest.camera_service import camera_manager
from services.ingest.settings import IngestSettings
from tests.ingest.camera_helpers import Cameras, TopicReader

SERVER = Path(__file__).with_name("rtsp_server.py")
SYSTEM_PYTHON = "/usr/bin/python3"


def _gst_missing() -> str | None:
    if shutil.which("ffmpeg") is None:
        return "ffmpeg not installed (apt-get install ffmpeg)"
    probe = (
        "import gi; gi.require_version('Gst', '1.0'); gi.require_version('GstRtspServer', '1.0');"
        "from gi.repository import GstRtspServer"
    )
    try:
        subprocess.run([SYSTEM_PYTHON, "-c", probe], check=True, capture_output=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return (
            "GStreamer RTSP server not installed (apt-get install gir1.2-gst-rtsp-server-1.0 "
            "python3-gst-1.0 gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly "
            "gstreamer1.0-plugins-bad gstreamer1.0-libav; scripts/install-system-deps.sh)"
        )
    return None


pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(_gst_missing() is not None, reason=str(_gst_missing())),
]


def make_video(path: Path, seconds: int = 40, fps: int = 5) -> None:
    """An H.264 MP4 of the synthetic scene (keyframe every second), encoded by ffmpeg."""
    size, rate = f"{sim.WIDTH}x{sim.HEIGHT}", str(fps)
    raw_in = ["-f", "rawvideo", "-pix_fmt", "bgr24", "-s", size, "-r", rate, "-i", "-"]
    h264 = ["-c:v", "libx264", "-preset", "ultrafast", "-g", rate, "-pix_fmt", "yuv420p"]
    enc = subprocess.Popen(
        ["ffmpeg", "-loglevel", "error", "-y", *raw_in, *h264, str(path)],
        stdin=subprocess.PIPE,
    )
    assert enc.stdin is not None
    for i in range(seconds * fps):
        img, _ = sim.render_frame(4, i / fps)
        enc.stdin.write(img.tobytes())
    enc.stdin.close()
    assert enc.wait(60) == 0 and path.stat().st_size > 0


@contextmanager
def rtsp_server(video: Path, port: int, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [SYSTEM_PYTHON, str(SERVER), str(video), str(port)], stdout=out, stderr=out
        )
    deadline = time.monotonic() + 20
    while "ready" not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def test_rtsp_camera_offline_when_the_server_dies_online_again_and_reads_resume(
    settings, tmp_path: Path
) -> None:
    video = tmp_path / "scene.mp4"
    make_video(video)
    port = free_port()
    s = IngestSettings(
        **{
            **settings.model_dump(),
            "ingest_cameras_metrics_port": 0,
            "ingest_reconnect_min_s": 0.5,
            "ingest_reconnect_max_s": 2.0,
        }
    )
    detect_log = tmp_path / "detect.log"
    with detect_log.open("wb") as out:
        detect = subprocess.Popen(
            [sys.executable, "-m", "platestream.cli", "detect"],
            env=stage_env(settings, PLATESTREAM_DETECT_WORKERS="1"),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    status = TopicReader(s, catalogue.CAMERA_STATUS)
    reads = TopicReader(s, catalogue.PLATE_READS)
    mine = lambda r: r["camera_id"] == "cam-rtsp"  # noqa: E731
    stop = threading.Event()
    try:
        with camera_manager(s, stop, shared=False) as mgr:
            loop = threading.Thread(target=mgr.run, daemon=True)
            loop.start()
            with rtsp_server(video, port, tmp_path / "rtsp.log") as server:
                Cameras(s).put(
                    "cam-rtsp", f"rtsp://127.0.0.1:{port}/cam", plate_formats=["GB", "BR", "US"]
                )
                up = status.wait_for(lambda r: mine(r) and r["state"] == "online", 30, "online")
                assert up["reason"].startswith("rtsp source open")
                reads.wait_for(mine, 60, "a read of the RTSP camera")
                server.send_signal(signal.SIGKILL)
                server.wait(10)
            killed = status.mark()
            down = status.wait_for(
                lambda r: mine(r) and r["state"] == "offline", 30, "offline", killed
            )
            print(f"offline: {down['reason']}")
            restarted_ms = time.time() * 1000
            with rtsp_server(video, port, tmp_path / "rtsp.log"):
                at = status.mark()
                status.wait_for(lambda r: mine(r) and r["state"] == "online", 30, "online", at)
                reads.wait_for(
                    lambda r: mine(r) and r["ts"] > restarted_ms, 60, "a read after the restart"
                )
            stop.set()
            loop.join(20)
    finally:
        stop.set()
        detect.terminate()
        detect.wait(20)
        status.close()
        reads.close()
