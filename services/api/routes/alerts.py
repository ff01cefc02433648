"""Watchlist alerts and their acknowledgement (anpr.alert-acks.v1).

The list names plates, so it needs a stated purpose (issue 17); an acknowledgement shows none.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from platestream import topics as catalogue
from platestream.timeutil import now_ms, to_ms
from services.api.deps import Correct, Search, StateDep, audit
from services.api.purpose import RequiredPurpose
from services.api.search_sql import FAST_FINAL

router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])

ALERTS_SQL = (
    "SELECT alert_id, entry_id, list_id, list_kind, reason, priority, event_id, camera_id, camera_name, site, zone, "
    "plate, confidence, toUnixTimestamp64Milli(ts) AS ts_ms, match_type, early FROM alerts FINAL "
    "WHERE ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC') "
    "{extra} ORDER BY ts DESC, alert_id LIMIT {limit:UInt32}" + FAST_FINAL
)


class AckIn(BaseModel):
    note: str = Field(default="", max_length=500)


class AckOut(BaseModel):
    alert_id: str
    user: str
    note: str
    ts: int


class AlertOut(BaseModel):
    alert_id: str
    entry_id: str
    list_id: str
    list_kind: str
    reason: str
    priority: str
    event_id: str
    camera_id: str
    camera_name: str | None
    site: str | None
    zone: str | None
    plate: str
    confidence: float
    ts: int
    match_type: str
    early: bool
    ack: AckOut | None


@router.get("", response_model=list[AlertOut])
def list_alerts(
    request: Request,
    state: StateDep,
    p: Search,
    _why: RequiredPurpose,
    since: datetime | None = None,
    until: datetime | None = None,
    camera: Annotated[list[str] | None, Query(max_length=200)] = None,
    list_id: Annotated[str | None, Query(max_length=64)] = None,
    unacked_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """Recent alerts, newest first, with their acknowledgement."""
    try:
        params: dict[str, Any] = {
            "since": to_ms(since) if since else 0,
            "until": to_ms(until) if until else now_ms() + 86_400_000,
            "limit": limit,
        }
    except (OverflowError, ValueError, OSError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad time: {exc}") from exc
    extra = []
    if camera:
        params["cameras"] = camera
        extra.append("AND camera_id IN {cameras:Array(String)}")
    if list_id:
        params["list_id"] = list_id
        extra.append("AND list_id = {list_id:String}")
    rows = state.clickhouse.query(
        ALERTS_SQL.replace("{extra}", " ".join(extra)), parameters=params
    ).named_results()
    out = []
    for r in rows:
        ack = state.acks.get(r["alert_id"])
        if unacked_only and ack:
            continue
        item = {k: r[k] for k in AlertOut.model_fields if k in r}
        item.update(
            ts=int(r["ts_ms"]),
            confidence=round(float(r["confidence"]), 4),
            early=bool(r["early"]),
            ack=ack,
        )
        out.append(item)
    audit(
        state,
        request,
        p,
        "alerts",
        query={"list_id": list_id, "cameras": camera},
        result_count=len(out),
    )
    return out


@router.post("/{alert_id}/ack", response_model=AckOut, status_code=status.HTTP_201_CREATED)
def acknowledge(
    alert_id: str, body: AckIn, request: Request, state: StateDep, p: Correct
) -> dict[str, Any]:
    """Acknowledge an alert (published to anpr.alert-acks.v1)."""
    if not alert_id or len(alert_id) > 128:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "bad alert id")
    found = state.clickhouse.query(
        "SELECT count() FROM alerts WHERE alert_id = {a:String}", parameters={"a": alert_id}
    )
    if not found.result_rows[0][0]:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such alert")
    rec = {"alert_id": alert_id, "user": p.name, "note": body.note, "ts": now_ms()}
    part, off = state.publisher.publish(
        catalogue.ALERT_ACKS.name, catalogue.ALERT_ACKS.schema, alert_id, rec
    )
    if not state.acks.wait_for(part, off):
        state.acks.apply(alert_id, rec)
    audit(state, request, p, "alert_ack", query={"alert_id": alert_id}, status_code=201)
    return rec
