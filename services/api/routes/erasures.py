"""Erasure requests (admin): erase a plate, or one plate event, from every store.

The API writes the request as an event on ``anpr.erasures.v1`` (acknowledged by the broker, or
503) and audits it; the sink carries it out (rows, images, audit queries) and records what it
removed in the ``erasures`` table, which ``GET`` reads. The plate is hashed into its subject id
here and never written anywhere in clear: not in the request, not in the audit record.
See docs/privacy.md, section 4.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field

from platestream import topics as catalogue
from platestream.plates import normalise
from platestream.privacy.erasure import event_reads, event_request, plate_request
from services.api.deps import Admin, StateDep, audit
from services.api.purpose import RequiredPurpose

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/privacy/erasures", tags=["privacy"])

DONE_COLUMNS = (
    "erasure_id, scope, subject_id, event_id, toUnixTimestamp64Milli(before_ts) AS before_ts, "
    "actor, purpose, case_id, toUnixTimestamp64Milli(ts) AS ts, "
    "toUnixTimestamp64Milli(executed_at) AS executed_at, rows_deleted, images_deleted"
)


class ErasureIn(BaseModel):
    plate: str | None = Field(default=None, max_length=64, description="Erase this plate.")
    event_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="Or erase this plate event."
    )


def _done(row: dict[str, Any]) -> dict[str, Any]:
    rows = {k: int(v) for k, v in (row.get("rows_deleted") or {}).items()}
    return {**row, "status": "done", "rows_deleted": rows, "rows_total": sum(rows.values())}


@router.post("", status_code=status.HTTP_202_ACCEPTED)
def request_erasure(
    body: ErasureIn, request: Request, state: StateDep, p: Admin, why: RequiredPurpose
) -> dict[str, Any]:
    """Ask the sink to erase a plate (every record of it seen until now) or one plate event."""
    if (body.plate is None) == (body.event_id is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "give exactly one of plate or event_id"
        )
    common: dict[str, Any] = {
        "actor": p.subject,
        "purpose": why.purpose if why else None,
        "case_id": why.case_id if why else None,
    }
    if body.plate is not None:
        norm = normalise(body.plate)
        if not norm or len(norm) > 32:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "plate must have 1-32 letters or digits"
            )
        rec = plate_request(norm, key=state.settings.privacy_subject_key, **common)
    else:
        event_id = body.event_id or ""
        reads = event_reads(state.clickhouse, event_id)
        if reads is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no such plate event")
        rec = event_request(event_id, reads, **common)
    what = {
        "erasure_id": rec["erasure_id"],
        "scope": rec["scope"],
        "subject_id": rec["subject_id"],
        "event_id": rec["event_id"],
    }
    # Audited first (acknowledged, or 503), then the request itself (acknowledged, or 503).
    audit(state, request, p, "erasure", query=what, delivered=True, status_code=202)
    state.publisher.publish(
        catalogue.ERASURES.name, catalogue.ERASURES.schema, rec["erasure_id"], rec
    )
    return {**what, "before_ts": rec["before_ts"], "status": "requested"}


@router.get("")
def list_erasures(
    request: Request,
    state: StateDep,
    p: Admin,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """The erasures carried out, newest first, with what each removed (no plate: subject ids)."""
    rows = state.clickhouse.query(
        f"SELECT {DONE_COLUMNS} FROM erasures FINAL ORDER BY ts DESC LIMIT {{n:UInt32}}",
        parameters={"n": limit},
    ).named_results()
    out = [_done(r) for r in rows]
    audit(state, request, p, "erasures", result_count=len(out))
    return {"erasures": out}


@router.get("/{erasure_id}")
def get_erasure(erasure_id: str, request: Request, state: StateDep, p: Admin) -> dict[str, Any]:
    """One erasure once the sink has carried it out; 404 before that (or for an unknown id)."""
    rows = list(
        state.clickhouse.query(
            f"SELECT {DONE_COLUMNS} FROM erasures FINAL WHERE erasure_id = {{e:String}}",
            parameters={"e": erasure_id[:128]},
        ).named_results()
    )
    audit(state, request, p, "erasures", query={"erasure_id": erasure_id[:128]})
    if not rows:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "not carried out (yet), or no such erasure")
    return _done(rows[0])
