"""Dahua camera connector: logs in with HTTP digest, holds the long-lived event stream, reconnects.

Dahua cameras push nothing by themselves: we GET ``snapManager.cgi?action=attachFileProc`` (or
``eventManager.cgi?action=attach``) and read the ``multipart/x-mixed-replace`` answer part by part
as long as the camera keeps it open. A lost connection or a silent stream (no part, not even a
heartbeat, for ``read_timeout``) is a reconnect with exponential backoff and full jitter; every
online/offline transition goes to ``anpr.camera-status.v1``. Event ids are deterministic and the
connector remembers the last ids it published, so an event replayed after a reconnect is not
published twice.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from typing import Any

import httpx

from platestream.dlq import DeadLetters
from platestream.errors import BadInputError, SerdeError
from services.ingest.dahua import DahuaAssembler
from services.ingest.frames import backoff_delays
from services.ingest.multipart import MultipartStream, Part, boundary_of
from services.ingest.publisher import DeliveryError, EventPublisher
from services.ingest.settings import IngestSettings
from services.ingest.status import StatusPublisher
from services.ingest.video_sources import redact

logger = logging.getLogger(__name__)

SNAP_PATH = "/cgi-bin/snapManager.cgi?action=attachFileProc&Flags[0]=Event&Events=[All]&heartbeat=5"
EVENT_PATH = "/cgi-bin/eventManager.cgi?action=attach&codes=[All]&heartbeat=5"


class StreamLost(Exception):
    """The camera's stream ended, failed or went silent."""


class RecentIds:
    """The last ``size`` ids seen, for dropping replays after a reconnect."""

    def __init__(self, size: int = 2048) -> None:
        self._ids: OrderedDict[str, None] = OrderedDict()
        self._size = size

    def seen(self, event_id: str) -> bool:
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return True
        self._ids[event_id] = None
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
        return False


class DahuaConnector:
    """One camera's event stream into camera events, with its connection state on camera-status."""

    def __init__(
        self,
        *,
        camera_id: str,
        base_url: str,
        username: str,
        password: str,
        publisher: EventPublisher,
        status: StatusPublisher,
        settings: IngestSettings,
        stop: threading.Event,
        dead_letters: DeadLetters | None = None,
        path: str = SNAP_PATH,
        read_timeout: float = 20.0,
        connect_timeout: float = 5.0,
        client: httpx.Client | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.url = base_url.rstrip("/") + path
        self._auth = httpx.DigestAuth(username, password)
        self._publisher = publisher
        self._status = status
        self._settings = settings
        self._stop = stop
        self._dlq = dead_letters
        self._timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=connect_timeout, pool=connect_timeout
        )
        self._client = client
        self._recent = RecentIds()
        self.online = False
        self.connects = 0
        self.published = 0
        self.replays_dropped = 0

    def run(self) -> None:
        delays = backoff_delays(
            self._settings.ingest_reconnect_min_s, self._settings.ingest_reconnect_max_s
        )
        client = self._client or httpx.Client(timeout=self._timeout, trust_env=False)
        try:
            while not self._stop.is_set():
                try:
                    self._session(client)
                    reason = "stream ended"
                except StreamLost as exc:
                    reason = str(exc)
                except httpx.HTTPError as exc:
                    reason = f"{type(exc).__name__}: {exc}"
                if self.online:
                    self.online = False
                    delays = backoff_delays(
                        self._settings.ingest_reconnect_min_s, self._settings.ingest_reconnect_max_s
                    )
                    self._status.send(
                        self.camera_id, "offline", source="connector", reason=reason[:300]
                    )
                if self._stop.is_set():
                    break
                delay = next(delays)
                logger.warning(
                    "camera %s: %s; reconnecting in %.2fs", self.camera_id, reason, delay
                )
                self._stop.wait(delay)
        finally:
            if self._client is None:
                client.close()
            if self.online:
                self._status.send(
                    self.camera_id, "offline", source="connector", reason="connector stopped"
                )
                self.online = False

    def _session(self, client: httpx.Client) -> None:
        with client.stream("GET", self.url, auth=self._auth, timeout=self._timeout) as resp:
            if resp.status_code == 401:
                raise StreamLost("camera refused the credentials (401)")
            if resp.status_code != 200:
                raise StreamLost(f"camera answered HTTP {resp.status_code}")
            try:
                stream = MultipartStream(boundary_of(resp.headers.get("content-type", "")))
            except BadInputError as exc:
                raise StreamLost(str(exc)) from exc
            self.connects += 1
            self.online = True
            self._status.send(
                self.camera_id,
                "online",
                source="connector",
                reason=f"stream open ({redact(self.url)})",
            )
            asm = DahuaAssembler()
            try:
                for chunk in resp.iter_bytes():
                    if self._stop.is_set():
                        return
                    for part in stream.feed(chunk):
                        self._handle(asm, part)
            except BadInputError as exc:
                raise StreamLost(f"stream framing broken: {exc}") from exc
            finally:
                self._publish(asm.flush())

    def _handle(self, asm: DahuaAssembler, part: Part) -> None:
        try:
            events = asm.feed(part)
        except BadInputError as exc:
            logger.warning("camera %s sent a bad part: %s", self.camera_id, exc)
            if self._dlq is not None:
                self._dlq.raw(
                    part.data,
                    exc,
                    key=self.camera_id.encode(),
                    headers={**part.headers, "x-platestream-camera": self.camera_id},
                    content_type=part.content_type,
                )
            return
        self._publish(events)

    def _publish(self, events: list[Any]) -> None:
        fresh = [e for e in events if not self._recent.seen(e.event_id(self.camera_id))]
        self.replays_dropped += len(events) - len(fresh)
        if not fresh:
            return
        try:
            self._publisher.publish_sync(fresh, camera_id=self.camera_id)
        except SerdeError as exc:
            logger.warning(
                "camera %s sent an event that cannot be encoded: %s", self.camera_id, exc
            )
            return
        except (DeliveryError, TimeoutError) as exc:
            for e in fresh:  # not acknowledged: let a replay through next time
                self._recent._ids.pop(e.event_id(self.camera_id), None)
            raise StreamLost(f"broker did not acknowledge: {exc}") from exc
        self.published += len(fresh)
