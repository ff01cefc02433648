"""Two camera-manager processes share 10 cameras: each camera runs on exactly one of them and none
is missing; after one is killed (SIGKILL) its cameras run on the other within 30 s."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from platestream import topics as catalogue
from platestream.bench.harness import stage_env
from tests.ingest.camera_helpers import Cameras, TopicReader

pytestmark = pytest.mark.integration

CAMERAS = [f"cam-{i:02d}" for i in range(10)]


@contextmanager
def manager(settings, name: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:  # type: ignore[no-untyped-def]
    env = stage_env(
        settings,
        PLATESTREAM_INGEST_MANAGER_ID=name,
        PLATESTREAM_INGEST_HEARTBEAT_S="1",
        PLATESTREAM_INGEST_CAMERAS_METRICS_PORT="0",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "platestream.cli", "ingest", "cameras"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def owners(status: TopicReader, since_ms: float) -> dict[str, set[str]]:
    """Camera -> the managers whose heartbeats for it were sent after ``since_ms``."""
    status.mark()
    out: dict[str, set[str]] = defaultdict(set)
    for r in status.records:
        if r["state"] == "heartbeat" and r["ts"] > since_ms and r["manager"]:
            out[r["camera_id"]].add(r["manager"])
    return out


def wait_stable(status: TopicReader, managers: set[str], timeout: float) -> dict[str, set[str]]:
    """Owners over the last 3 s once every camera has exactly one, among ``managers``."""
    deadline = time.monotonic() + timeout
    while True:
        seen = owners(status, time.time() * 1000 - 3000)
        one_each = set(seen) == set(CAMERAS) and all(len(m) == 1 for m in seen.values())
        if one_each and set().union(*seen.values()) == managers:
            return seen
        assert time.monotonic() < deadline, f"no stable assignment in {timeout}s: {dict(seen)}"
        time.sleep(1.0)


def test_two_replicas_share_ten_cameras_and_take_over_a_killed_one(settings, tmp_path) -> None:
    cams = Cameras(settings)
    status = TopicReader(settings, catalogue.CAMERA_STATUS)
    with ExitStack() as stack:
        m1 = stack.enter_context(manager(settings, "m1", tmp_path / "m1.log"))
        stack.enter_context(manager(settings, "m2", tmp_path / "m2.log"))
        for i, cid in enumerate(CAMERAS):
            cams.put(cid, f"sim://scene?seed={i}&fps=2&width=320&height=180", fps_cap=1.0)
        try:
            wait_stable(status, {"m1", "m2"}, 60)
            window_start = time.time() * 1000
            time.sleep(5)
            steady = owners(status, window_start)
            assert set(steady) == set(CAMERAS), "a camera is missing"
            twice = {c: m for c, m in steady.items() if len(m) > 1}
            assert not twice, f"cameras run twice: {twice}"
            on_m1 = {c for c, m in steady.items() if m == {"m1"}}
            assert on_m1 and len(on_m1) < len(CAMERAS)

            killed_at = time.time() * 1000
            t0 = time.monotonic()
            m1.send_signal(signal.SIGKILL)
            m1.wait(10)
            while True:
                moved = owners(status, killed_at)
                if all(moved.get(c) == {"m2"} for c in on_m1):
                    break
                assert time.monotonic() - t0 < 30, f"not moved in 30 s: {dict(moved)}"
                time.sleep(0.5)
            took = time.monotonic() - t0
            print(f"cameras of the killed replica running again after {took:.1f} s")
            wait_stable(status, {"m2"}, 15)
        except AssertionError as exc:
            logs = "\n".join(
                f"--- {n}\n{(tmp_path / f'{n}.log').read_text(errors='replace')[-2000:]}"
                for n in ("m1", "m2")
            )
            raise AssertionError(f"{exc}\n{logs}") from None
    status.close()
