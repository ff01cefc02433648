"""What the camera manager runs per camera: a frame source (``CameraRunner``) or the Dahua
connector (``DahuaRunner``), each on its own thread with its own stop event.

A runner never raises into the manager: an unreachable, malformed or failing source is an offline
status with its reason, retried with exponential backoff and jitter; a camera that fails more than
``ingest_camera_restart_limit`` times within ``ingest_camera_restart_window_s`` is paused for
``ingest_camera_cooloff_s`` (reported as such), so a flapping camera costs bounded restarts.
The camera's own settings (fps cap, JPEG quality, duplicate/motion thresholds, plate formats,
zones) are read per frame, so a change applies without reopening the stream.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from concurrent.futures import Future
from typing import Any, Protocol

import cv2

from platestream.errors import BadInputError, SerdeError
from platestream.secrets import SecretStore, with_credentials
from platestream.timeutil import now_ms
from services.ingest.camera_config import CameraConfig, SourceSettings
from services.ingest.frames import FrameGate, FramePublisher, backoff_delays
from services.ingest.metrics import IngestMetrics
from services.ingest.settings import IngestSettings
from services.ingest.status import StatusPublisher
from services.ingest.video_sources import SourceError, open_frames, redact, source_kind

logger = logging.getLogger(__name__)


class Runner(Protocol):
    config: CameraConfig

    def start(self) -> Runner: ...
    def update(self, config: CameraConfig) -> None: ...
    def stop(self, reason: str, timeout: float) -> bool: ...
    def alive(self) -> bool: ...


def credentials(secrets: SecretStore | None, name: str | None) -> tuple[str, str] | None:
    """(user, password) from the secret store, None without a secret; ValueError if unreadable."""
    if not name or secrets is None:
        return None
    raw = secrets.get(name)
    if raw is None:
        raise ValueError(f"secret {name} is not in the secret store")
    try:
        creds = json.loads(raw)
        return str(creds["username"]), str(creds.get("password", ""))
    except (ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"secret {name} is not JSON with username and password") from exc


class CameraRunner:
    """One camera's frame source: open, gate, publish with the camera's settings, reconnect."""

    def __init__(
        self,
        *,
        config: CameraConfig,
        frames: FramePublisher,
        status: StatusPublisher,
        settings: IngestSettings,
        secrets: SecretStore | None,
        manager_id: str,
        metrics: IngestMetrics | None = None,
        realtime: bool = True,
    ) -> None:
        self.config = config
        self._frames = frames
        self._status = status
        self._settings = settings
        self._secrets = secrets
        self._manager = manager_id
        self._metrics = metrics
        self._realtime = realtime
        self._stop = threading.Event()
        self._stop_reason = "stopped"
        self.read = self.sent = self.dropped = self.restarts = 0
        self.skipped: dict[str, int] = {}
        self.last_frame_ts: int | None = None
        self.online = False
        self._last_offline: str | None = None
        self.thread = threading.Thread(
            target=self._run, name=f"camera-{config.camera_id}", daemon=True
        )

    # -- manager side ------------------------------------------------------------------------------
    def start(self) -> CameraRunner:
        self.thread.start()
        return self

    def update(self, config: CameraConfig) -> None:
        """New settings that need no reopening (the manager reopens for URL/kind/secret changes)."""
        self.config = config

    def stop(self, reason: str, timeout: float) -> bool:
        """Ask the source to stop; True once its thread has ended (waits up to ``timeout``)."""
        self._stop_reason = reason
        self._stop.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def alive(self) -> bool:
        return self.thread.is_alive()

    # -- the thread --------------------------------------------------------------------------------
    def _send(self, state: str, reason: str | None = None, **kw: Any) -> None:
        self._status.send(
            self.config.camera_id,
            state,
            source="frame-source",
            reason=reason,
            manager=self._manager,
            frames_dropped=self.dropped,
            last_frame_ts=self.last_frame_ts,
            **kw,
        )

    def _run(self) -> None:
        s = self._settings
        delays = backoff_delays(s.ingest_reconnect_min_s, s.ingest_reconnect_max_s)
        failures: deque[float] = deque()
        while not self._stop.is_set():
            was_online_before = self.online
            reason = self._session()
            if self.online or was_online_before:
                delays = backoff_delays(s.ingest_reconnect_min_s, s.ingest_reconnect_max_s)
            if self._stop.is_set():
                break
            self._offline(reason)
            url = self.config.stream_url or ""
            if reason == "source ended" and source_kind(url) in ("file", "sim"):
                return  # a finite source is done; the manager reopens it only when it changes
            now = time.monotonic()
            failures.append(now)
            while failures and now - failures[0] > s.ingest_camera_restart_window_s:
                failures.popleft()
            self.restarts += 1
            if len(failures) > s.ingest_camera_restart_limit:
                why = (
                    f"{len(failures)} restarts in {s.ingest_camera_restart_window_s:g}s; "
                    f"paused for {s.ingest_camera_cooloff_s:g}s (last: {reason})"
                )
                self._offline(why)
                failures.clear()
                self._stop.wait(s.ingest_camera_cooloff_s)
                continue
            delay = next(delays)
            logger.warning(
                "camera %s: %s; reconnecting in %.1fs", self.config.camera_id, reason, delay
            )
            self._stop.wait(delay)
        if self.online:
            self.online = False
            if self._metrics is not None:
                self._metrics.cameras_online.dec()
        self._send("offline", self._stop_reason[:300])

    def _offline(self, reason: str) -> None:
        """Report offline on a transition or a new reason; a camera that stays down is not re-sent."""
        if self.online:
            self.online = False
            if self._metrics is not None:
                self._metrics.cameras_online.dec()
        elif reason == self._last_offline:
            return
        self._last_offline = reason
        self._send("offline", reason[:300])

    def _session(self) -> str:
        """One open-read-publish session; returns why it ended. Never raises."""
        cfg = self.config
        try:
            creds = credentials(self._secrets, cfg.credentials_secret)
            secret = json.dumps({"username": creds[0], "password": creds[1]}) if creds else None
            url = with_credentials(cfg.stream_url or "", secret)
        except ValueError as exc:
            return f"credentials: {exc}"
        kind = source_kind(url)
        session = str(now_ms())
        seq = 0
        pending: deque[Future[Any]] = deque()
        gate: FrameGate | None = None
        gate_for: SourceSettings | None = None
        window_start, window_sent = time.monotonic(), 0
        last_beat = time.monotonic()
        try:
            for ts, frame in open_frames(url, realtime=self._realtime, stop=self._stop):
                if self._stop.is_set():
                    break
                cfg = self.config
                ss = cfg.source_settings(self._settings)
                if ss != gate_for or gate is None:
                    gate = FrameGate(ss.fps, ss.dup_threshold, ss.motion_threshold, ss.keepalive_s)
                    gate_for = ss
                if not self.online:
                    self.online = True
                    self._last_offline = None
                    self._send("online", f"{kind} source open ({redact(url)})"[:300])
                    if self._metrics is not None:
                        self._metrics.cameras_online.inc()
                self.read += 1
                why = gate.check(ts, frame)
                if why is not None:
                    self.skipped[why] = self.skipped.get(why, 0) + 1
                    if self._metrics is not None:
                        self._metrics.frames_skipped.labels(why).inc()
                elif self._publish(pending, cfg, ss, kind, session, seq, ts, frame):
                    seq += 1
                    window_sent += 1
                now = time.monotonic()
                if now - last_beat >= self._settings.ingest_heartbeat_s:
                    fps = window_sent / max(1e-6, now - window_start)
                    self._heartbeat(fps)
                    last_beat, window_start, window_sent = now, now, 0
            reason = "source ended"
        except SourceError as exc:
            reason = str(exc)
        except cv2.error as exc:
            reason = f"OpenCV error: {exc}"
        except Exception as exc:  # a source bug must stay this camera's problem, not the manager's
            logger.exception("camera %s: source failed", cfg.camera_id)
            reason = f"source failed: {type(exc).__name__}: {exc}"
        self._settle(pending, self._settings.ingest_ack_timeout_s)
        return reason[:300]

    def _publish(
        self,
        pending: deque[Future[Any]],
        cfg: CameraConfig,
        ss: SourceSettings,
        kind: str,
        session: str,
        seq: int,
        ts: int,
        frame: Any,
    ) -> bool:
        self._settle(pending, 0.0)
        if len(pending) >= self._settings.ingest_camera_max_pending:
            self._drop("backlog")
            return False
        try:
            fut = self._frames.publish(
                camera_id=cfg.camera_id,
                source=kind,
                session=session,
                seq=seq,
                ts=ts,
                frame=frame,
                plate_formats=list(cfg.plate_formats) or None,
                jpeg_quality=ss.jpeg_quality,
                zones=cfg.zones,
            )
        except (BufferError, BadInputError, SerdeError) as exc:
            logger.warning("camera %s: frame not sent: %s", cfg.camera_id, exc)
            self._drop("refused")
            return False
        pending.append(fut)
        self.sent += 1
        self.last_frame_ts = ts
        return True

    def _drop(self, why: str) -> None:
        self.dropped += 1
        if self._metrics is not None:
            self._metrics.frames_skipped.labels(f"dropped-{why}").inc()

    def _settle(self, pending: deque[Future[Any]], timeout: float) -> None:
        """Forget acknowledged frames (counting failures as dropped); wait up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while pending:
            fut = pending[0]
            if not fut.done():
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                try:
                    fut.exception(timeout=left)
                except TimeoutError:
                    return
            pending.popleft()
            if fut.exception() is not None:
                self._drop("undelivered")

    def _heartbeat(self, fps: float) -> None:
        self._send(
            "heartbeat",
            fps=round(fps, 3),
            details={
                "read": self.read,
                "sent": self.sent,
                "restarts": self.restarts,
                **{f"skipped_{k}": v for k, v in self.skipped.items()},
            },
        )


class DahuaRunner:
    """The existing Dahua event connector (``services.ingest.connector``) under the manager."""

    def __init__(
        self,
        *,
        config: CameraConfig,
        publisher: Any,
        status: StatusPublisher,
        settings: IngestSettings,
        secrets: SecretStore | None,
        dead_letters: Any = None,
    ) -> None:
        self.config = config
        self._publisher = publisher
        self._status = status
        self._settings = settings
        self._secrets = secrets
        self._dlq = dead_letters
        self._stop = threading.Event()
        self._stop_reason = "stopped"
        self.thread = threading.Thread(
            target=self._run, name=f"dahua-{config.camera_id}", daemon=True
        )

    def start(self) -> DahuaRunner:
        self.thread.start()
        return self

    def update(self, config: CameraConfig) -> None:
        self.config = config

    def stop(self, reason: str, timeout: float) -> bool:
        """Ask the connector to stop: it sees it at the camera's next part (Dahua cameras send a
        heartbeat every 5 s on this stream), or when its read times out."""
        self._stop_reason = reason
        self._stop.set()
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def alive(self) -> bool:
        return self.thread.is_alive()

    def _run(self) -> None:
        self._connect()
        self._status.send(
            self.config.camera_id, "offline", source="connector", reason=self._stop_reason[:300]
        )

    def _connect(self) -> None:
        from services.ingest.connector import DahuaConnector

        cfg = self.config
        try:
            creds = credentials(self._secrets, cfg.credentials_secret) or ("admin", "")
        except ValueError as exc:
            self._status.send(cfg.camera_id, "offline", source="connector", reason=str(exc))
            return
        while not self._stop.is_set():
            try:
                DahuaConnector(
                    camera_id=cfg.camera_id,
                    base_url=cfg.stream_url or "",
                    username=creds[0],
                    password=creds[1],
                    publisher=self._publisher,
                    status=self._status,
                    settings=self._settings,
                    stop=self._stop,
                    dead_letters=self._dlq,
                ).run()
            except Exception as exc:  # a connector bug: report, back off, try again
                logger.exception("camera %s: Dahua connector failed", cfg.camera_id)
                self._status.send(
                    cfg.camera_id, "offline", source="connector", reason=f"connector failed: {exc}"
                )
                self._stop.wait(self._settings.ingest_reconnect_max_s)
