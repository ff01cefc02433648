"""Frame sources: OpenCV streams and files, and the ``sim://`` scene, into ``anpr.frames.v1``.

Per camera: a frame-rate cap, a near-duplicate filter and motion-based skipping (both on a small
grey thumbnail), reconnection with exponential backoff and jitter, and a status heartbeat. One
process serves many cameras, one thread each. Frames travel as JPEG, inline up to the configured
size, else stored in the bucket first and referenced by key (claim check).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from platestream import topics as catalogue
from platestream.errors import BadInputError
from platestream.ids import stable_id
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from services.ingest.canonical import RawImage
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import AckingProducer, ImageStore, image_ref
from services.ingest.settings import IngestSettings
from services.ingest.status import StatusPublisher
from services.ingest.video_sources import SourceError, open_frames, source_kind

logger = logging.getLogger(__name__)
THUMB = (64, 36)


def thumbnail(frame: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    return cv2.resize(grey, THUMB, interpolation=cv2.INTER_AREA).astype(np.int16)


@dataclass
class FrameGate:
    """Decides which frames are worth sending: fps cap, near-duplicates, no motion."""

    fps: float
    dup_threshold: float = 1.0
    motion_threshold: float = 0.0
    keepalive_s: float = 10.0
    _last_sample_ts: int | None = None
    _last_sent_ts: int | None = None
    _last_thumb: np.ndarray | None = None

    def check(self, ts: int, frame: np.ndarray) -> str | None:
        """None to send, else the reason to skip (fps | duplicate | no-motion).

        The fps cap samples one frame per period; the sampled frame is then compared with the last
        frame sent (a grey 64x36 thumbnail, mean absolute difference 0..255).
        """
        if self._last_sample_ts is not None and ts - self._last_sample_ts < 1000.0 / self.fps - 1:
            return "fps"
        self._last_sample_ts = ts
        thumb = thumbnail(frame)
        if self._last_thumb is not None and self._last_sent_ts is not None:
            diff = float(np.mean(np.abs(thumb - self._last_thumb)))
            stale = ts - self._last_sent_ts >= self.keepalive_s * 1000
            if diff < self.dup_threshold and not stale:
                return "duplicate"
            if self.motion_threshold > 0 and diff < self.motion_threshold and not stale:
                return "no-motion"
        self._last_sent_ts = ts
        self._last_thumb = thumb
        return None


class FramePublisher:
    """Frame records: JPEG-encoded, inline or by claim check, keyed by camera id."""

    def __init__(
        self,
        *,
        producer: AckingProducer,
        serde: AvroSerde,
        settings: IngestSettings,
        store: ImageStore | None,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self._producer = producer
        self._serde = serde
        self._settings = settings
        self._store = store
        self._metrics = metrics
        self.topic = settings.topic(catalogue.FRAMES.name)

    def encode_jpeg(self, frame: np.ndarray, quality: int | None = None) -> bytes:
        q = quality or self._settings.ingest_frame_jpeg_quality
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, q])
        if not ok:
            raise BadInputError("frame could not be JPEG-encoded")
        return buf.tobytes()

    def publish(
        self,
        *,
        camera_id: str,
        source: str,
        session: str,
        seq: int,
        ts: int,
        frame: np.ndarray,
        job_id: str | None = None,
        plate_formats: list[str] | None = None,
        jpeg_quality: int | None = None,
        zones: str | None = None,
    ) -> Future[Any]:
        jpeg = self.encode_jpeg(frame, jpeg_quality)
        h, w = frame.shape[:2]
        frame_id = stable_id(camera_id, source, session, seq)
        img = RawImage(kind="frame", data=jpeg, content_type="image/jpeg", width=w, height=h)
        ref = image_ref(
            img,
            prefix="frames",
            camera_id=camera_id,
            ts=ts,
            owner_id=frame_id,
            kind_slot="frame",
            inline_limit=self._settings.ingest_inline_image_bytes,
            store=self._store,
        )
        record = {
            "frame_id": frame_id,
            "camera_id": camera_id,
            "source": source,
            "seq": seq,
            "ts": ts,
            "received_at": now_ms(),
            "width": w,
            "height": h,
            "image": ref,
            "job_id": job_id,
            "plate_formats": plate_formats,
            "zones": zones,
        }
        value = self._serde.encode("frame", record, subject=f"{self.topic}-value")
        if self._metrics is not None:
            self._metrics.frames.labels(source).inc()
            self._metrics.images.labels("inline" if ref["data"] is not None else "s3").inc()
        return self._producer.produce_future(self.topic, key=camera_id.encode(), value=value)


@dataclass
class CameraSpec:
    camera_id: str
    url: str


def backoff_delays(min_s: float, max_s: float, rng: random.Random | None = None) -> Iterator[float]:
    """Exponential backoff with full jitter: uniform(min, min*2^n) capped at max."""
    rng = rng or random.Random()
    n = 0
    while True:
        ceiling = min(max_s, min_s * (2**n))
        yield rng.uniform(min_s, max(min_s, ceiling))
        n = min(n + 1, 30)


class CameraWorker:
    """One camera: read, gate, publish; reconnect with backoff; report status."""

    def __init__(
        self,
        *,
        spec: CameraSpec,
        frames: FramePublisher,
        status: StatusPublisher,
        settings: IngestSettings,
        stop: threading.Event,
        metrics: IngestMetrics | None = None,
        realtime: bool = True,
        reconnect: bool = True,
    ) -> None:
        self.spec = spec
        self._frames = frames
        self._status = status
        self._settings = settings
        self._stop = stop
        self._metrics = metrics
        self._realtime = realtime
        self._reconnect = reconnect
        self.sent = 0
        self.read = 0
        self.skipped: dict[str, int] = {}
        self._reported_offline = False
        self.thread = threading.Thread(
            target=self.run, name=f"camera-{spec.camera_id}", daemon=True
        )

    def run(self) -> None:
        kind = source_kind(self.spec.url)
        delays = backoff_delays(
            self._settings.ingest_reconnect_min_s, self._settings.ingest_reconnect_max_s
        )
        while not self._stop.is_set():
            session = f"{now_ms()}"
            gate = FrameGate(
                self._settings.ingest_frame_fps,
                self._settings.ingest_frame_dup_threshold,
                self._settings.ingest_frame_motion_threshold,
                self._settings.ingest_frame_keepalive_s,
            )
            online = False
            seq = 0
            last_beat = time.monotonic()
            window_start, window_sent = time.monotonic(), 0
            pending: list[Future[Any]] = []
            try:
                for ts, frame in open_frames(
                    self.spec.url, realtime=self._realtime, stop=self._stop
                ):
                    if not online:
                        online = True
                        self._reported_offline = False
                        delays = backoff_delays(
                            self._settings.ingest_reconnect_min_s,
                            self._settings.ingest_reconnect_max_s,
                        )
                        self._status.send(
                            self.spec.camera_id,
                            "online",
                            source="frame-source",
                            reason=f"{kind} source open",
                        )
                        if self._metrics is not None:
                            self._metrics.cameras_online.inc()
                    self.read += 1
                    why = gate.check(ts, frame)
                    if why is not None:
                        self.skipped[why] = self.skipped.get(why, 0) + 1
                        if self._metrics is not None:
                            self._metrics.frames_skipped.labels(why).inc()
                    else:
                        pending.append(
                            self._frames.publish(
                                camera_id=self.spec.camera_id,
                                source=kind,
                                session=session,
                                seq=seq,
                                ts=ts,
                                frame=frame,
                            )
                        )
                        seq += 1
                        self.sent += 1
                        window_sent += 1
                        pending = self._reap(pending)
                    now = time.monotonic()
                    if now - last_beat >= self._settings.ingest_heartbeat_s:
                        fps = window_sent / max(1e-6, now - window_start)
                        self._status.send(
                            self.spec.camera_id,
                            "heartbeat",
                            source="frame-source",
                            fps=fps,
                            details={
                                "read": self.read,
                                "sent": self.sent,
                                **{f"skipped_{k}": v for k, v in self.skipped.items()},
                            },
                        )
                        last_beat, window_start, window_sent = now, now, 0
                    if self._stop.is_set():
                        break
                reason = "source ended"
            except SourceError as exc:
                reason = str(exc)
            except cv2.error as exc:
                reason = f"OpenCV error: {exc}"
            for f in pending:
                try:
                    f.result(timeout=self._settings.ingest_ack_timeout_s)
                except Exception as exc:  # delivery failures are logged; the frame stream goes on
                    logger.error("frame of camera %s not delivered: %s", self.spec.camera_id, exc)
            if online and self._metrics is not None:
                self._metrics.cameras_online.dec()
            if online or not self._reported_offline:
                # transitions only: a camera that stays unreachable is reported offline once
                self._reported_offline = True
                self._status.send(
                    self.spec.camera_id, "offline", source="frame-source", reason=reason
                )
            if (
                not self._reconnect
                or self._stop.is_set()
                or (reason == "source ended" and source_kind(self.spec.url) in ("file", "sim"))
            ):
                return
            delay = next(delays)
            logger.warning(
                "camera %s: %s; reconnecting in %.1fs", self.spec.camera_id, reason, delay
            )
            self._stop.wait(delay)

    def _reap(self, pending: list[Future[Any]]) -> list[Future[Any]]:
        """Drop acknowledged frames, log failed ones, keep the rest."""
        keep = []
        for fut in pending:
            if not fut.done():
                keep.append(fut)
            elif fut.exception() is not None:
                logger.error(
                    "frame of camera %s not delivered: %s", self.spec.camera_id, fut.exception()
                )
        return keep


class FrameSourceProcessor:
    """Many cameras in one process: a worker thread each, one producer, one stop event."""

    def __init__(
        self,
        *,
        cameras: list[CameraSpec],
        frames: FramePublisher,
        status: StatusPublisher,
        settings: IngestSettings,
        stop: threading.Event,
        metrics: IngestMetrics | None = None,
        realtime: bool = True,
        reconnect: bool = True,
    ) -> None:
        self.workers = [
            CameraWorker(
                spec=c,
                frames=frames,
                status=status,
                settings=settings,
                stop=stop,
                metrics=metrics,
                realtime=realtime,
                reconnect=reconnect,
            )
            for c in cameras
        ]
        self._stop = stop

    def run(self) -> None:
        for w in self.workers:
            w.thread.start()
        for w in self.workers:
            while w.thread.is_alive():
                w.thread.join(timeout=0.5)
