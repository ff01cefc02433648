"""Replay stored plate events to a replay topic; progress by polling or by SSE."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, model_validator

from platestream import topics as catalogue
from platestream.timeutil import to_ms
from services.api.deps import Replay, StateDep, audit
from services.api.purpose import RequiredPurpose

router = APIRouter(prefix="/api/v1/replay", tags=["replay"])


class ReplayIn(BaseModel):
    since: datetime
    until: datetime
    cameras: list[str] = Field(default_factory=list, max_length=500)
    target_topic: str | None = Field(
        default=None,
        pattern=r"^anpr\.replay[a-z0-9.-]*$",
        max_length=120,
        description="Topic under the replay namespace (default anpr.replay.v1); the deployment's prefix is added.",
    )
    pace: Literal["fast", "original"] = "fast"
    speed: float = Field(
        default=1.0, gt=0, le=1000, description="With pace=original: 2.0 plays twice as fast."
    )

    @model_validator(mode="after")
    def _range(self) -> ReplayIn:
        if to_ms(self.until) <= to_ms(self.since):
            raise ValueError("until must be after since")
        return self


class ReplayOut(BaseModel):
    id: str
    since: int
    until: int
    cameras: list[str]
    target: str
    pace: str
    speed: float
    requested_by: str
    state: str
    total: int
    read: int
    published: int
    missing: int
    error: str | None
    created_at: int
    finished_at: int | None


@router.post("", response_model=ReplayOut, status_code=status.HTTP_202_ACCEPTED)
def start_replay(
    body: ReplayIn, request: Request, state: StateDep, p: Replay, _why: RequiredPurpose
) -> dict[str, Any]:
    """Start re-publishing stored events of a time range, in order, to a replay topic."""
    target = state.settings.topic(body.target_topic or catalogue.REPLAY.name)
    meta = state.producer.list_topics(timeout=5)
    if target not in meta.topics:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"target topic {target} does not exist"
        )
    job = state.replays.submit(
        since=to_ms(body.since),
        until=to_ms(body.until),
        cameras=body.cameras,
        target=target,
        pace=body.pace,
        speed=body.speed,
        requested_by=p.subject,
    )
    audit(
        state,
        request,
        p,
        "replay",
        query={
            "since": job.since,
            "until": job.until,
            "cameras": body.cameras,
            "target": target,
            "pace": body.pace,
        },
        status_code=202,
    )
    return job.view()


@router.get("", response_model=list[ReplayOut])
def list_replays(state: StateDep, _p: Replay) -> list[dict[str, Any]]:
    """Recent replays of this API process."""
    return [j.view() for j in state.replays.jobs()]


@router.get("/{job_id}", response_model=ReplayOut)
def replay_progress(job_id: str, state: StateDep, _p: Replay) -> dict[str, Any]:
    """Progress of one replay."""
    job = state.replays.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such replay")
    return job.view()


@router.delete("/{job_id}", status_code=status.HTTP_204_NO_CONTENT)
def cancel_replay(job_id: str, state: StateDep, _p: Replay) -> None:
    """Cancel a running replay."""
    if not state.replays.cancel(job_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such replay")


@router.get(
    "/{job_id}/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def replay_stream(
    job_id: str,
    request: Request,
    state: StateDep,
    _p: Replay,
    interval: Annotated[float, Query(ge=0.1, le=10)] = 0.5,
) -> StreamingResponse:
    """Server-sent events with the replay's progress until it ends."""
    job = state.replays.get(job_id)
    if job is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such replay")

    async def events() -> AsyncIterator[bytes]:
        while True:
            view = job.view()
            yield f"event: progress\ndata: {json.dumps(view)}\n\n".encode()
            if view["state"] in ("done", "failed", "cancelled") or await request.is_disconnected():
                return
            await asyncio.sleep(interval)

    return StreamingResponse(
        events(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
