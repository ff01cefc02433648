"""BoloAlert records: one per watchlist entry per passage.

An early alert (a confident read hit the entry: raised by the loop, or by the lookout ahead of it,
services/enrich/lookout.py) has its id from the entry and that read, ``early_alert_id``, so whoever
raises it, and a restarted enrich that reads the same reads again, sends it under one id. An
alert at the passage's close (no read was confident enough) has its id from the entry and the
passage's event id."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from confluent_kafka import Message, Producer

from platestream.ids import stable_id
from services.enrich.bolo import Entry
from services.enrich.enrichment import CameraInfo, Cameras
from services.enrich.passage import Read

logger = logging.getLogger(__name__)


def early_alert_id(entry_id: str, read_id: str) -> str:
    """The id of an early alert: the entry and the read that hit it, not the passage, which the
    lookout does not know yet."""
    return stable_id(entry_id, "read", read_id)


def alert_record(
    entry: Entry,
    *,
    event_id: str,
    read: Read,
    plate: str,
    confidence: float,
    early: bool,
    camera: CameraInfo | None,
    received_at: int | None,
    emitted_at: int,
) -> dict[str, Any]:
    """An early alert's id is ``early_alert_id`` (the lookout's with ``event_id`` still empty), a
    closing alert's the entry and the passage."""
    return {
        "alert_id": (
            early_alert_id(entry.entry_id, read.read_id)
            if early
            else stable_id(entry.entry_id, event_id)
        ),
        "entry_id": entry.entry_id,
        "list_id": entry.list_id,
        "list_kind": entry.list_kind,
        "pattern": entry.pattern,
        "match_type": entry.match_type,
        "reason": entry.reason,
        "priority": entry.priority,
        "owner": entry.owner,
        "event_id": event_id,
        "camera_id": read.camera_id,
        "plate": plate,
        "confidence": confidence,
        "ts": read.ts,
        "early": early,
        "read_id": read.read_id,
        "site": camera.site if camera is not None else None,
        "zone": camera.zone if camera is not None else None,
        "camera_name": (camera.name or None) if camera is not None else None,
        "crop_s3_key": (read.crop or {}).get("s3_key"),
        "received_at": received_at,
        "emitted_at": emitted_at,
    }


class AlertOut:
    """Produces one processor's alerts (the loop's, and its lookout's from another thread)."""

    def __init__(
        self,
        *,
        producer: Producer,
        serde: Any,
        topic: str,
        cameras: Cameras,
        clock: Callable[[], int],
        on_delivery: Callable[[Any, Message], None],
    ) -> None:
        self.producer = producer
        self.serde = serde
        self.topic = topic
        self.subject = f"{topic}-value"
        self.cameras = cameras
        self.clock = clock
        self.on_delivery = on_delivery  # the loop's: a lost alert stops its commits

    def emit(
        self,
        entry: Entry,
        event_id: str,
        read: Read,
        plate: str,
        confidence: float,
        early: bool,
        received_at: int | None,
        on_delivery: Callable[[Any, Message], None] | None = None,
    ) -> None:
        """Produce one alert; ``on_delivery`` defaults to the loop's."""
        rec = alert_record(
            entry,
            event_id=event_id,
            read=read,
            plate=plate,
            confidence=confidence,
            early=early,
            camera=self.cameras.get(read.camera_id),
            received_at=received_at,
            emitted_at=self.clock(),
        )
        self.producer.produce(
            self.topic,
            key=read.camera_id.encode(),
            value=self.serde.encode("bolo_alert", rec, subject=self.subject),
            on_delivery=on_delivery or self.on_delivery,
        )

    def lookout(self, entry: Entry, read: Read) -> None:
        """An alert the lookout raised ahead of the loop: no passage yet (empty event_id); not
        in the loop's offsets, since the loop sends it again, complete, when it gets there."""
        self.emit(entry, "", read, read.plate, read.confidence, True, read.received_at, _logged)


def _logged(err: Any, msg: Message) -> None:
    if err is not None:
        logger.warning("lookout alert not delivered to %s: %s", msg.topic(), err)
