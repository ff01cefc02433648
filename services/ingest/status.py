"""Camera status records (online/offline transitions, heartbeats) on ``anpr.camera-status.v1``."""

from __future__ import annotations

import logging
from typing import Any

from platestream import topics as catalogue
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from services.ingest.publisher import AckingProducer
from services.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


class StatusPublisher:
    def __init__(
        self, *, producer: AckingProducer, serde: AvroSerde, settings: IngestSettings
    ) -> None:
        self._producer = producer
        self._serde = serde
        self.topic = settings.topic(catalogue.CAMERA_STATUS.name)

    def send(
        self,
        camera_id: str,
        state: str,
        *,
        source: str,
        reason: str | None = None,
        fps: float | None = None,
        last_event_ts: int | None = None,
        details: dict[str, Any] | None = None,
        frames_dropped: int | None = None,
        last_frame_ts: int | None = None,
        manager: str | None = None,
    ) -> None:
        record = {
            "camera_id": camera_id,
            "ts": now_ms(),
            "state": state,
            "source": source,
            "reason": reason,
            "fps": fps,
            "events_per_min": None,
            "last_event_ts": last_event_ts,
            "details": {k: str(v) for k, v in (details or {}).items()},
            "frames_dropped": frames_dropped,
            "last_frame_ts": last_frame_ts,
            "manager": manager,
        }
        value = self._serde.encode("camera_status", record, subject=f"{self.topic}-value")
        if state != "heartbeat":
            logger.info("camera %s is %s (%s)", camera_id, state, reason or "-")

        def done(err: Any, _msg: Any) -> None:
            if err is not None:
                logger.error("camera status for %s not delivered: %s", camera_id, err)

        self._producer.produce(self.topic, key=camera_id.encode(), value=value, on_done=done)
