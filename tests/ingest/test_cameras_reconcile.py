"""The camera manager's reconcile loop without a broker: what runs follows the cameras topic."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from platestream import zones
from services.ingest.camera_config import CameraConfig, slot_of
from services.ingest.cameras import CameraManager
from services.ingest.settings import IngestSettings


class FakeRunner:
    def __init__(self, config: CameraConfig, log: list[tuple[str, str, str]]) -> None:
        self.config = config
        self._log = log
        self._alive = False

    def start(self) -> FakeRunner:
        self._alive = True
        self._log.append(("start", self.config.camera_id, self.config.stream_url or ""))
        return self

    def update(self, config: CameraConfig) -> None:
        self.config = config
        self._log.append(("update", config.camera_id, ",".join(config.plate_formats)))

    def stop(self, reason: str, timeout: float) -> bool:
        if self._alive:
            self._alive = False
            self._log.append(("stop", self.config.camera_id, reason))
        return True

    def alive(self) -> bool:
        return self._alive


class FakeStatus:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, str | None]] = []

    def send(self, camera_id: str, state: str, **kw: Any) -> None:
        self.sent.append((camera_id, state, kw.get("reason")))


def camera(cid: str, **kw: Any) -> dict[str, Any]:
    return {"camera_id": cid, "stream_url": f"sim://scene?seed={len(cid)}", "updated_at": 1, **kw}


@pytest.fixture
def env() -> tuple[CameraManager, list[tuple[str, str, str]], FakeStatus]:
    log: list[tuple[str, str, str]] = []
    status = FakeStatus()
    mgr = CameraManager(
        settings=IngestSettings(ingest_camera_stop_timeout_s=0.1),
        make_runner=lambda cfg: FakeRunner(cfg, log),
        status=status,  # type: ignore[arg-type]
        stop=threading.Event(),
        manager="m1",
    )
    return mgr, log, status


def test_reconcile_starts_stops_and_reconfigures_idempotently(env) -> None:
    mgr, log, status = env
    mgr.apply("a", camera("a"))
    mgr.apply("b", camera("b", enabled=False))
    mgr.apply("c", camera("c", stream_url=None))  # a push-only camera: nothing to open
    mgr.reconcile()
    mgr.reconcile()  # a second pass changes nothing
    assert log == [("start", "a", "sim://scene?seed=1")]
    assert ("b", "offline", "disabled") in status.sent

    mgr.apply("a", camera("a", plate_formats=["GB"]))  # soft change: handed to the source
    mgr.reconcile()
    assert log[-1] == ("update", "a", "GB")

    mgr.apply("a", camera("a", plate_formats=["GB"], stream_url="sim://scene?seed=9"))
    mgr.reconcile()  # new URL: reopened
    assert log[-2:] == [("stop", "a", "reconfigured"), ("start", "a", "sim://scene?seed=9")]

    mgr.apply("a", camera("a", enabled=False))
    mgr.apply("b", camera("b"))
    mgr.reconcile()
    assert log[-2:] == [("stop", "a", "disabled"), ("start", "b", "sim://scene?seed=1")]

    mgr.apply("b", None)  # tombstone
    mgr.reconcile()
    assert log[-1] == ("stop", "b", "deleted")
    assert mgr.view()["running"] == []


def test_a_replayed_or_repeated_record_converges_to_the_same_state(env) -> None:
    mgr, log, _status = env
    rec = camera("a")
    for _ in range(3):
        mgr.apply("a", rec)
        mgr.reconcile()
    assert [e for e in log if e[0] == "start"] == [("start", "a", "sim://scene?seed=1")]


def test_bad_records_are_reported_not_run_and_never_raise(env) -> None:
    mgr, log, status = env
    mgr.apply("x", camera("x", plate_formats=["NOPE"]))
    mgr.apply("y", camera("y", roi=json.dumps({"roi": [[[0, 0], [2, 0], [1, 1]]]})))
    mgr.apply("z", camera("z", kind="teleporter"))
    mgr.reconcile()
    mgr.reconcile()
    assert log == []
    reasons = {cid: reason for cid, state, reason in status.sent if state == "offline"}
    assert "plate_formats" in reasons["x"] and "NOPE" in reasons["x"]
    assert "zones" in reasons["y"] and "[0, 1]" in reasons["y"]
    assert "teleporter" in reasons["z"]
    assert len(status.sent) == 3  # once per configuration, not per pass
    with pytest.raises(ValueError):
        mgr.apply("k", camera("other"))


def test_only_owned_slots_run() -> None:
    class Half:
        def owns(self, cid: str) -> bool:
            return slot_of(cid, 24) % 2 == 0

    log: list[tuple[str, str, str]] = []
    mgr = CameraManager(
        settings=IngestSettings(),
        make_runner=lambda cfg: FakeRunner(cfg, log),
        status=FakeStatus(),  # type: ignore[arg-type]
        stop=threading.Event(),
        manager="m1",
    )
    mgr.membership = Half()  # type: ignore[assignment]
    ids = [f"cam-{i}" for i in range(10)]
    for cid in ids:
        mgr.apply(cid, camera(cid))
    mgr.reconcile()
    assert {c for _, c, _ in log} == {c for c in ids if slot_of(c, 24) % 2 == 0}


def test_frame_settings_come_from_the_camera_else_the_defaults() -> None:
    d = IngestSettings(ingest_frame_fps=5, ingest_frame_jpeg_quality=85)
    own = CameraConfig.from_record(camera("a", fps_cap=2.0, jpeg_quality=60, dup_threshold=3.0))
    ss = own.source_settings(d)
    assert (ss.fps, ss.jpeg_quality, ss.dup_threshold) == (2.0, 60, 3.0)
    assert CameraConfig.from_record(camera("a")).source_settings(d).fps == 5
    assert slot_of("cam-1", 24) == 16  # stable across processes (CRC-32)


def test_zone_verdicts() -> None:
    z = zones.parse(
        json.dumps(
            {
                "roi": [[[0, 0], [1, 0], [1, 1], [0, 1]]],
                "exclusions": [[[0, 0.5], [0.5, 0.5], [0.5, 1], [0, 1]]],
            }
        )
    )
    assert z.verdict(0.75, 0.75) is None
    assert z.verdict(0.25, 0.75) == "excluded"
    box = {"x": 100, "y": 600, "w": 180, "h": 45}  # centre (190, 622) of 1280x720: lower left
    assert z.box_verdict(box, 1280, 720) == "excluded"
    only_top = zones.parse(json.dumps({"roi": [[[0, 0], [1, 0], [1, 0.5], [0, 0.5]]]}))
    assert only_top.box_verdict(box, 1280, 720) == "outside-roi"
    assert zones.parse_lenient('{"roi": [[[0, 0], [100, 0], [100, 50]]]}') == zones.NONE
