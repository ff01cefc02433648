"""The camera manager (`platestream ingest cameras`): the cameras topic in, one source per camera out.

It follows the compacted ``anpr.cameras.v1`` (desired state: every camera, last record per id
wins) and reconciles what runs toward it: a camera that is enabled, has a stream and falls in
this replica's share gets a source; one that is disabled, deleted or moved is stopped; a change
of URL, kind or secret reopens it; other changes (fps cap, JPEG quality, thresholds, plate
formats, zones) are handed to the running source. One loop on one thread owns that state, every
pass looks at all of it, so a repeated, missed or reordered event converges the same way.

Sharing among replicas: every replica joins one consumer group on ``anpr.camera-slots.v1``
(24 partitions, nothing written). A camera belongs to partition ``crc32(camera_id) mod 24``, and
runs on the replica the group assigned that partition to. The broker's group protocol gives each
partition to exactly one live member; a member that dies stops heartbeating and its partitions
are reassigned after ``session.timeout.ms``; with the cooperative protocol a survivor keeps its
own cameras running through a rebalance, and a partition is only assigned anew after its old
owner revoked it, which stops its cameras first (bounded by ``ingest_camera_stop_timeout_s``).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from confluent_kafka import Consumer, TopicPartition

from platestream.errors import PlatestreamError
from services.ingest.camera_config import CameraConfig, slot_of
from services.ingest.camera_sources import Runner
from services.ingest.settings import IngestSettings
from services.ingest.status import StatusPublisher

logger = logging.getLogger(__name__)

LOOP_S = 0.2
GROUP = "platestream-camera-managers"


def manager_id(settings: IngestSettings) -> str:
    return settings.ingest_manager_id or f"{socket.gethostname()}-{os.getpid()}"


class SlotMembership:
    """This replica's share of the camera slots: the group's assignment of the slots topic."""

    def __init__(self, *, consumer: Consumer, topic: str) -> None:
        self._consumer = consumer
        self._topic = topic
        self.slots = 0
        self.owned: set[int] = set()
        self.assigned = False  # nothing runs before the first assignment
        self.on_change: Callable[[], None] = lambda: None

    @staticmethod
    def consumer_config(common: dict[str, str], group: str, member: str) -> dict[str, Any]:
        return {
            **common,
            "group.id": group,
            "client.id": member,
            "enable.auto.commit": False,
            "auto.offset.reset": "latest",
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 500,
            "partition.assignment.strategy": "cooperative-sticky",
        }

    def start(self, timeout_s: float) -> None:
        md = self._consumer.list_topics(self._topic, timeout=timeout_s).topics.get(self._topic)
        if md is None or md.error is not None or not md.partitions:
            raise PlatestreamError(f"camera slots topic {self._topic} is missing")
        self.slots = len(md.partitions)
        self._consumer.subscribe(
            [self._topic], on_assign=self._assign, on_revoke=self._revoke, on_lost=self._revoke
        )

    def poll(self, timeout: float) -> None:
        """Serve the group protocol (heartbeats, rebalance callbacks run here)."""
        self._consumer.poll(timeout)

    def owns(self, camera_id: str) -> bool:
        return self.assigned and slot_of(camera_id, self.slots) in self.owned

    def _assign(self, _consumer: Consumer, parts: list[TopicPartition]) -> None:
        self.owned |= {p.partition for p in parts}
        self.assigned = True
        logger.info(
            "camera slots assigned: %s (now %d)",
            sorted(p.partition for p in parts),
            len(self.owned),
        )
        self.on_change()

    def _revoke(self, _consumer: Consumer, parts: list[TopicPartition]) -> None:
        # runs before the partitions can go to another member: stop their cameras here
        self.owned -= {p.partition for p in parts}
        logger.info("camera slots revoked: %s", sorted(p.partition for p in parts))
        self.on_change()

    def close(self) -> None:
        self._consumer.close()  # leaves the group: the others take over at once


class CameraManager:
    """Desired cameras (from the topic) vs running sources (here), moved together by ``reconcile``."""

    def __init__(
        self,
        *,
        settings: IngestSettings,
        make_runner: Callable[[CameraConfig], Runner],
        status: StatusPublisher,
        stop: threading.Event,
        membership: SlotMembership | None = None,
        poll_state: Callable[[], int] = lambda: 0,
        manager: str = "",
    ) -> None:
        self.settings = settings
        self._make_runner = make_runner
        self._status = status
        self.stop = stop
        self.membership = membership
        self._poll_state = poll_state
        self.manager = manager or manager_id(settings)
        self.desired: dict[str, CameraConfig] = {}
        self.running: dict[str, Runner] = {}
        self._lingering: list[Runner] = []  # sources that did not stop in time; joined at exit
        self._reported: dict[str, CameraConfig] = {}  # last config reported as not runnable here
        self.starts = 0
        self.looping = False
        self.finished = threading.Event()  # set once run() has stopped every source
        if membership is not None:
            membership.on_change = self.reconcile

    # -- desired state ------------------------------------------------------------------------------
    def apply(self, camera_id: str, record: dict[str, Any] | None) -> None:
        """A record of the cameras topic (None: tombstone). Bad records become a reported problem."""
        if record is None:
            self.desired.pop(camera_id, None)
            return
        if str(record.get("camera_id")) != camera_id:
            raise ValueError(f"camera record under key {camera_id[:64]!r} names another camera")
        self.desired[camera_id] = CameraConfig.from_record(record)

    def owns(self, camera_id: str) -> bool:
        return True if self.membership is None else self.membership.owns(camera_id)

    # -- the loop -----------------------------------------------------------------------------------
    def run(self) -> None:
        from platestream.heartbeat import HEARTBEATS

        logger.info("camera manager %s: running", self.manager)
        self.looping = True
        beat = HEARTBEATS.register("camera-manager")  # /health answers 503 if this loop sticks
        try:
            while not self.stop.is_set():
                HEARTBEATS.beat(beat)
                self._poll_state()
                if self.membership is not None:
                    self.membership.poll(LOOP_S)
                else:
                    self.stop.wait(LOOP_S)
                self.reconcile()
        finally:
            HEARTBEATS.unregister(beat)
            self.shutdown()
            self.finished.set()

    def reconcile(self) -> None:
        """Move the running sources toward the desired state (idempotent)."""
        wanted: dict[str, CameraConfig] = {}
        for cid, cfg in self.desired.items():
            if not self.owns(cid):
                self._reported.pop(cid, None)
                continue
            if cfg.problem is not None:
                self._report(cfg, f"bad camera configuration: {cfg.problem}")
            elif cfg.runnable:
                wanted[cid] = cfg
            elif not cfg.enabled:
                self._report(cfg, "disabled")
        doomed: list[tuple[str, str]] = []
        for cid, runner in self.running.items():
            want = wanted.get(cid)
            if want is None:
                doomed.append((cid, self._why_not(cid)))
            elif want.open_key() != runner.config.open_key():
                doomed.append((cid, "reconfigured"))
            elif want != runner.config:
                runner.update(want)
        self._stop_all(doomed)
        for cid, cfg in wanted.items():
            if cid not in self.running:
                self.running[cid] = self._make_runner(cfg).start()
                self._reported.pop(cid, None)
                self.starts += 1
                logger.info("camera %s: source started on %s", cid, self.manager)

    def _why_not(self, cid: str) -> str:
        cfg = self.desired.get(cid)
        if cfg is None:
            return "deleted"
        if not self.owns(cid):
            return f"moved off manager {self.manager}"
        if not cfg.enabled:
            return "disabled"
        return "no stream to open" if cfg.problem is None else f"bad configuration: {cfg.problem}"

    def _stop_all(self, doomed: list[tuple[str, str]]) -> None:
        """Stop several sources together: signal all, then wait for each within one deadline."""
        if not doomed:
            return
        runners = [(cid, self.running.pop(cid), why) for cid, why in doomed]
        for _cid, runner, why in runners:
            runner.stop(why, 0.0)
        deadline = time.monotonic() + self.settings.ingest_camera_stop_timeout_s
        for cid, runner, why in runners:
            if not runner.stop(why, max(0.0, deadline - time.monotonic())):
                logger.warning("camera %s: source still stopping after the timeout", cid)
                self._lingering.append(runner)
            logger.info("camera %s: source stopped (%s)", cid, why)
            if why != "reconfigured" and not why.startswith("moved"):
                cfg = self.desired.get(cid)
                if cfg is not None:
                    self._reported[cid] = cfg  # the runner already said why it stopped

    def _report(self, cfg: CameraConfig, reason: str) -> None:
        """Say once per configuration why an owned camera does not run."""
        if self._reported.get(cfg.camera_id) == cfg:
            return
        self._reported[cfg.camera_id] = cfg
        if cfg.camera_id in self.running:
            return  # stopping it reports the reason
        self._status.send(
            cfg.camera_id,
            "offline",
            source="frame-source",
            reason=reason[:300],
            manager=self.manager,
        )

    def shutdown(self) -> None:
        """Stop every source (before leaving the group, so no camera ever runs twice)."""
        self._stop_all([(cid, "manager stopped") for cid in list(self.running)])
        for runner in self._lingering:
            runner.stop("manager stopped", 1.0)
        if self.membership is not None:
            self.membership.close()
        logger.info("camera manager %s: stopped after %d source starts", self.manager, self.starts)

    def view(self) -> dict[str, Any]:
        """What runs here (for logs, tests and the bench)."""
        return {
            "manager": self.manager,
            "desired": len(self.desired),
            "running": sorted(c for c, r in self.running.items() if r.alive()),
            "owned_slots": sorted(self.membership.owned) if self.membership else None,
        }
