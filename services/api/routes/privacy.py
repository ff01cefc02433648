"""Privacy: the purposes a search may state, and subject-access archives of one plate (admin)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from platestream.plates import normalise
from platestream.privacy.subject_access import ArchiveRequest, iter_archive
from services.api.deps import Admin, CurrentPrincipal, StateDep, audit
from services.api.purpose import RequiredPurpose

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/privacy", tags=["privacy"])


class PurposesOut(BaseModel):
    purposes: list[str]
    required: bool


@router.get("/purposes", response_model=PurposesOut)
def purposes(state: StateDep, p: CurrentPrincipal) -> dict[str, Any]:
    """The purposes a search may state, and whether the caller must state one."""
    settings = state.settings
    return {
        "purposes": list(settings.api_purposes),
        "required": p.role in settings.api_purpose_roles,
    }


@router.get("/subject-access", responses={200: {"content": {"application/zip": {}}}})
def subject_access(
    request: Request,
    state: StateDep,
    p: Admin,
    why: RequiredPurpose,
    plate: Annotated[str, Query(max_length=32, description="The plate the request is about.")],
    max_images: Annotated[int, Query(ge=0, le=100_000)] = 10_000,
) -> StreamingResponse:
    """A ZIP of every record, image and audit entry about one plate, and who searched for it."""
    norm = normalise(plate)
    if not norm:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "plate must have 1-32 letters or digits"
        )
    query = {"plate": norm, "mode": "exact", "max_images": max_images}
    # Audited before any byte leaves: acknowledged by the broker, or this is a 503.
    audit(state, request, p, "subject_access", query=query, delivered=True)
    req = ArchiveRequest(
        plate=norm,
        requested_by=p.subject,
        purpose=why.purpose if why else None,
        case_id=why.case_id if why else None,
        max_images=max_images,
    )

    def body() -> Iterator[bytes]:
        try:
            yield from iter_archive(
                req,
                clickhouse=state.clickhouse,
                s3=state.s3,
                bucket=state.settings.s3_bucket,
                watchlist_entries=state.bolo.values(),
            )
        finally:
            total = sum(v for k, v in req.counts.items() if k.endswith(".jsonl"))
            audit(state, request, p, "subject_access_done", query=query, result_count=total)

    return StreamingResponse(
        body(),
        media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="subject-access-{norm}.zip"'},
    )
