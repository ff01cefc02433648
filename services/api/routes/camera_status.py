"""Live camera status (read only): the merged anpr.camera-status.v1 records of every camera, with
its configured name and its plate reads in the last minute."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel

from platestream.timeutil import now_ms
from services.api.deps import CameraRead, StateDep

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/camera-status", tags=["cameras"])

RECENT_SQL = (
    "SELECT camera_id, count() AS n, toUnixTimestamp64Milli(max(ts)) AS last_ms FROM plate_reads "
    "WHERE ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') GROUP BY camera_id"
)


class CameraStatusOut(BaseModel):
    camera_id: str
    name: str | None
    enabled: bool | None
    configured: bool
    state: str  # online | offline | error | unknown
    reason: str | None
    source: str | None
    since: int | None
    updated_at: int | None
    fps: float | None
    events_per_min: float | None
    reads_per_min: int | None
    last_event_ts: int | None
    details: dict[str, str]


def _reads_last_minute(state: Any) -> dict[str, tuple[int, int]] | None:
    try:
        rows = state.clickhouse.query(
            RECENT_SQL, parameters={"since": now_ms() - 60_000}
        ).result_rows
    except Exception as exc:  # status stays useful while the event store is down
        logger.warning("reads per minute unavailable: %s", str(exc)[:200])
        return None
    return {str(r[0]): (int(r[1]), int(r[2])) for r in rows}


@router.get("", response_model=list[CameraStatusOut])
def camera_status(state: StateDep, _p: CameraRead) -> list[dict[str, Any]]:
    """Every configured or reporting camera: state with reason, fps, last event, reads/min."""
    merged = state.control.camera_states()
    reads = _reads_last_minute(state)
    configured = {c["camera_id"]: c for c in state.cameras.values()}
    out = []
    for cam in sorted(set(merged) | set(configured) | set(reads or {})):
        st = merged.get(cam, {})
        cfg = configured.get(cam)
        n, last_read = (reads or {}).get(cam, (0, 0))
        last_event = max(st.get("last_event_ts") or 0, last_read) or None
        out.append(
            {
                "camera_id": cam,
                "name": cfg.get("name") if cfg else None,
                "enabled": bool(cfg.get("enabled", True)) if cfg else None,
                "configured": cfg is not None,
                "state": st.get("state", "unknown"),
                "reason": st.get("reason"),
                "source": st.get("source"),
                "since": st.get("since"),
                "updated_at": st.get("updated_at"),
                "fps": st.get("fps"),
                "events_per_min": st.get("events_per_min"),
                "reads_per_min": n if reads is not None else None,
                "last_event_ts": last_event,
                "details": st.get("details", {}),
            }
        )
    return out
