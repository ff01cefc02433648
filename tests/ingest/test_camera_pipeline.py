"""A camera added through the API on a running pipeline (API and sink of the API test environment,
the camera manager, detect as its own process): its reads reach ClickHouse within 30 s with no
stage restarted; plate formats its plates do not fit change what detect emits within 10 s; an
exclusion zone over one lane drops that lane's reads; disabling it stops its frames within 10 s."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from platestream import topics as catalogue
from platestream.bench.harness import stage_env
from platestream.clickhouse import make_clickhouse
from services.ingest.camera_service import camera_manager
from services.ingest.settings import IngestSettings
from tests.api.helpers import ApiEnv, api_environment
from tests.ingest.camera_helpers import TopicReader

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CAM = "cam-e2e"
URL = "sim://scene?seed=11&fps=2"
FITTING = ["GB", "BR", "US"]  # the sim scene's plates are GB, Brazil-old and California shaped
LOWER_LANE = {"roi": [], "exclusions": [[[0, 0.75], [1, 0.75], [1, 1], [0, 1]]]}
HEIGHT = 720


@pytest.fixture
def api_env(stack) -> Iterator[ApiEnv]:
    """The API test environment (isolated namespace, sink running, API served) of its own."""
    with api_environment(stack) as env:
        yield env


def _centre_y(read: dict) -> float:
    box = read["plate_box"]
    return (box["y"] + box["h"] / 2) / HEIGHT


def _detect(env: ApiEnv, log: Path) -> subprocess.Popen[bytes]:
    proc_env = stage_env(env.settings, PLATESTREAM_DETECT_WORKERS="1")
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "platestream.cli", "detect"],
            env=proc_env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 90
    while "detect: consuming" not in log.read_text(errors="replace"):
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-3000:]
        time.sleep(0.5)
    return proc


def test_camera_through_the_api_reads_formats_zones_and_disable(
    api_env: ApiEnv, tmp_path: Path
) -> None:
    env = api_env
    admin = env.headers("admin")
    detect = _detect(env, tmp_path / "detect.log")
    settings = IngestSettings(
        **{
            **env.settings.model_dump(),
            "ingest_cameras_metrics_port": 0,
            "ingest_secrets_dir": env.settings.api_secrets_dir,
        }
    )
    stop = threading.Event()
    reads = TopicReader(settings, catalogue.PLATE_READS)
    frames = TopicReader(settings, catalogue.FRAMES)
    ch = make_clickhouse(settings, autogenerate_session_id=False)
    mine = lambda r: r["camera_id"] == CAM  # noqa: E731
    try:
        with camera_manager(settings, stop) as mgr:
            runner = threading.Thread(target=mgr.run, daemon=True)
            runner.start()
            t0 = time.monotonic()
            r = env.http.put(
                f"/api/v1/cameras/{CAM}",
                json={"stream_url": URL, "plate_formats": FITTING, "fps_cap": 1.0},
                headers=admin,
            )
            assert r.status_code == 200, r.text
            deadline = t0 + 30
            while ch.command(f"SELECT count() FROM plate_reads WHERE camera_id = '{CAM}'") == 0:
                assert time.monotonic() < deadline, (
                    "no read of the new camera in ClickHouse in 30 s"
                )
                time.sleep(0.5)
            print(f"camera created -> first read in ClickHouse: {time.monotonic() - t0:.1f} s")
            reads.wait_for(lambda r: mine(r) and r["plate_format"], 20, "a read with its format")

            # formats its plates do not fit: detect stops naming a format within 10 s
            changed_at = time.time() * 1000
            env.http.patch(f"/api/v1/cameras/{CAM}", json={"plate_formats": ["IT"]}, headers=admin)
            after = lambda r: mine(r) and r["ts"] > changed_at + 1000  # noqa: E731
            first = reads.wait_for(after, 10, "a read of a frame taken after the change")
            print(
                f"formats changed -> first read of a later frame: {time.time() - changed_at / 1000:.1f} s"
            )
            time.sleep(4)
            reads.mark()
            later = [r for r in reads.records if after(r)]
            assert first["plate_format"] is None and all(r["plate_format"] is None for r in later)

            # an exclusion zone over the lower lane: that lane's plates are no longer read
            before = [r for r in reads.records if mine(r)]
            assert any(_centre_y(r) > 0.75 for r in before), "no lower-lane read to compare with"
            zoned_at = time.time() * 1000
            env.http.patch(
                f"/api/v1/cameras/{CAM}",
                json={"plate_formats": FITTING, "zones": LOWER_LANE},
                headers=admin,
            )
            time.sleep(12)  # several vehicles in both lanes
            reads.mark()
            zoned = [r for r in reads.records if mine(r) and r["ts"] > zoned_at + 1000]
            assert zoned and all(_centre_y(r) < 0.75 for r in zoned), [_centre_y(r) for r in zoned]

            # disabled: no frame of it after 10 s
            off_at = time.time() * 1000
            env.http.patch(f"/api/v1/cameras/{CAM}", json={"enabled": False}, headers=admin)
            time.sleep(10)
            at = frames.mark()
            time.sleep(3)
            frames.mark()
            assert not [f for f in frames.records[at:] if mine(f)]
            assert all(f["ts"] < off_at + 10_000 for f in frames.records if mine(f))
            stop.set()
            runner.join(15)
    finally:
        stop.set()
        detect.terminate()
        detect.wait(20)
        reads.close()
        frames.close()
