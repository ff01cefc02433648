"""BoloAlert records: one per watchlist entry per passage (alert_id from entry and event ids)."""

from __future__ import annotations

from typing import Any

from platestream.ids import stable_id
from services.enrich.bolo import Entry
from services.enrich.dedup import Read
from services.enrich.enrichment import CameraInfo


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
    return {
        "alert_id": stable_id(entry.entry_id, event_id),
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
