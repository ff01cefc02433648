"""Corrections of plate events and the review queue of low-confidence events.

Both show plates (the queue lists them, a correction answers with the event's previous plate), so
both need a stated purpose (issue 17), recorded in their audit records.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field, model_validator

from platestream import topics as catalogue
from platestream.plates import normalise
from platestream.timeutil import now_ms
from services.api.deps import Correct, StateDep, audit
from services.api.purpose import RequiredPurpose
from services.api.routes.events import EventOut, presign
from services.api.search_rows import COLUMNS, row_to_event
from services.api.search_sql import FAST_FINAL, decode_cursor, encode_cursor

router = APIRouter(prefix="/api/v1", tags=["review"])

EVENT_INDEX_SQL = (
    "SELECT plate, partition, offset FROM plate_events WHERE event_id = {event_id:String} "
    "ORDER BY version DESC LIMIT 1"
)
REVIEW_SQL = (
    f"SELECT {COLUMNS} FROM plate_events FINAL "
    "WHERE confidence < {threshold:Float32} AND correction_id IS NULL "
    "AND event_id NOT IN (SELECT event_id FROM corrections) AND event_id NOT IN {done:Array(String)} "
    "{cursor} ORDER BY ts DESC, event_id DESC LIMIT {limit:UInt32}" + FAST_FINAL
)


class CorrectionIn(BaseModel):
    action: Literal["confirm", "correct", "reject"]
    plate: str | None = Field(default=None, max_length=32)
    reason: str = Field(default="", max_length=500)

    @model_validator(mode="after")
    def _plate(self) -> CorrectionIn:
        if self.action == "correct":
            if not self.plate or not normalise(self.plate):
                raise ValueError("a correction needs the corrected plate")
            self.plate = normalise(self.plate)
        return self


class CorrectionOut(BaseModel):
    correction_id: str
    event_id: str
    action: str
    plate: str | None
    previous_plate: str | None
    user: str
    reason: str
    ts: int


class ReviewPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None
    threshold: float


@router.post(
    "/events/{event_id}/corrections",
    response_model=CorrectionOut,
    status_code=status.HTTP_201_CREATED,
)
def correct_event(
    event_id: str,
    body: CorrectionIn,
    request: Request,
    state: StateDep,
    p: Correct,
    _why: RequiredPurpose,
) -> dict[str, Any]:
    """Confirm, correct or reject an event's plate (published to anpr.corrections.v1)."""
    rows = state.clickhouse.query(EVENT_INDEX_SQL, parameters={"event_id": event_id}).result_rows
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event")
    previous, partition, offset = rows[0]
    rec = {
        "correction_id": str(uuid.uuid4()),
        "event_id": event_id,
        "action": body.action,
        "plate": body.plate
        if body.action == "correct"
        else (previous if body.action == "confirm" else None),
        "previous_plate": previous,
        "user": p.name,
        "reason": body.reason,
        "ts": now_ms(),
        "event_partition": int(partition),
        "event_offset": int(offset),
    }
    state.publisher.publish(catalogue.CORRECTIONS.name, catalogue.CORRECTIONS.schema, event_id, rec)
    state.corrected[event_id] = rec
    while len(state.corrected) > 10_000:  # bounded: the corrections table catches up within seconds
        state.corrected.pop(next(iter(state.corrected)))
    audit(
        state,
        request,
        p,
        "correction",
        query={"event_id": event_id, "action": body.action},
        status_code=201,
    )
    return {k: rec[k] for k in CorrectionOut.model_fields}


@router.get("/review", response_model=ReviewPage)
def review_queue(
    request: Request,
    state: StateDep,
    p: Correct,
    _why: RequiredPurpose,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> dict[str, Any]:
    """Events below the review confidence threshold that nobody has confirmed or corrected yet."""
    params: dict[str, Any] = {
        "threshold": state.settings.api_review_threshold,
        "limit": limit + 1,
        "done": list(state.corrected)[-10000:],
    }
    where = ""
    if cursor:
        try:
            c_ts, c_id, _ver = decode_cursor(cursor, "time")
        except ValueError as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        params.update(c_ts=c_ts, c_id=c_id)
        where = (
            "AND (ts, event_id) < (fromUnixTimestamp64Milli({c_ts:Int64}, 'UTC'), {c_id:String})"
        )
    rows = list(
        state.clickhouse.query(
            REVIEW_SQL.replace("{cursor}", where), parameters=params
        ).named_results()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    items = []
    for r in rows:
        item = row_to_event(r)
        item["thumbnail_url"] = presign(state, item.pop("best_crop_key", None))
        items.append(item)
    audit(state, request, p, "review", query={"limit": limit}, result_count=len(items))
    nxt = (
        encode_cursor([int(rows[-1]["ts_ms"]), rows[-1]["event_id"], 0]) if more and rows else None
    )
    return {"items": items, "next_cursor": nxt, "threshold": state.settings.api_review_threshold}
