"""The plate events an upload job produced: ``GET /api/v1/uploads/{job_id}/events``.

Ingest publishes an uploaded video's frames with ``source="upload"``, the job id as session and
``job_id`` field, and a frame id that is ``stable_id(camera, "upload", job_id, seq)``; detect
keeps the frame id on every plate read, and enrich keeps the read ids on every event. So the
job's events are found without a column of their own: the job's frame ids (seq below the frames
ingest read) -> their reads in ``plate_reads`` -> the events whose ``read_ids`` hold one."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request, status

from platestream.ids import stable_id
from services.api.auth import Perm, Principal
from services.api.deps import StateDep, audit, require
from services.api.hits import describe_hits
from services.api.plate_index import SEARCH_SETTINGS
from services.api.purpose import RequiredPurpose
from services.api.routes.events import EventOut, presign
from services.api.routes.uploads import JobId, ask_ingest_for_job
from services.api.search_rows import COLUMNS, row_to_event
from services.api.state import AppState

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])

Uploader = Annotated[Principal, Depends(require(Perm.UPLOAD))]
Searcher = Annotated[Principal, Depends(require(Perm.SEARCH))]

MAX_FRAMES = 10_000  # frames of one job looked up (20 min of video at the default 8 fps)
CHUNK = 1000  # frame ids per query
MAX_EVENTS = 500
SLACK_MS = 60_000  # frame times start when the job thread starts, after the job is created

READS_SQL = (
    "SELECT DISTINCT read_id FROM plate_reads WHERE camera_id = {camera:String} "
    "AND ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
    "AND frame_id IN {frames:Array(String)} LIMIT 10000"
)
EVENTS_SQL = (
    f"SELECT {COLUMNS} FROM plate_events WHERE camera_id = {{camera:String}} "
    "AND ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
    "AND hasAny(read_ids, {reads:Array(String)}) "
    "ORDER BY event_id, version DESC LIMIT 1 BY event_id"
)


def job_frame_ids(camera_id: str, job_id: str, frames: int) -> list[str]:
    """The frame ids ingest gives the job's frames 0..frames-1 (services/ingest/frames.py)."""
    return [stable_id(camera_id, "upload", job_id, seq) for seq in range(min(frames, MAX_FRAMES))]


async def fetch_job(state: AppState, p: Principal, job_id: str) -> dict[str, Any]:
    """The job as ingest reports it (404 passed through; 503 if ingest is unreachable)."""
    resp = await ask_ingest_for_job(state, p, job_id)
    if resp.status_code == 404:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such upload job")
    if resp.status_code != 200:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, f"ingest answered {resp.status_code}")
    try:
        job: dict[str, Any] = resp.json()
        job["camera_id"], job["created_at"] = str(job["camera_id"]), int(job["created_at"])
    except (ValueError, KeyError, TypeError) as exc:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY, "ingest sent a bad job") from exc
    return job


def job_events(state: AppState, job: dict[str, Any]) -> list[dict[str, Any]]:
    """The latest version of every event with a read of one of the job's frames, newest first."""
    camera, since = job["camera_id"], job["created_at"] - SLACK_MS
    frames = max(int(job.get("frames_read") or 0), int(job.get("frames_sent") or 0))
    ids = job_frame_ids(camera, str(job["job_id"]), frames)
    reads: list[str] = []
    for i in range(0, len(ids), CHUNK):
        params = {"camera": camera, "since": since, "frames": ids[i : i + CHUNK]}
        reads.extend(r[0] for r in state.clickhouse.query(READS_SQL, parameters=params).result_rows)
    if not reads:
        return []
    rows = []
    for i in range(0, len(reads), CHUNK):
        params = {"camera": camera, "since": since, "reads": reads[i : i + CHUNK]}
        rows.extend(
            state.clickhouse.query(
                EVENTS_SQL, parameters=params, settings=SEARCH_SETTINGS
            ).named_results()
        )
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:  # an event can hold reads of two chunks
        have = latest.get(row["event_id"])
        if have is None or int(row["version"]) > int(have["version"]):
            latest[row["event_id"]] = row
    ordered = sorted(latest.values(), key=lambda r: (-int(r["ts_ms"]), r["event_id"]))
    return [row_to_event(r) for r in ordered[:MAX_EVENTS]]


def _described(state: AppState, job: dict[str, Any]) -> list[dict[str, Any]]:
    items = job_events(state, job)
    describe_hits(state, items)
    for item in items:
        item["thumbnail_url"] = presign(state, item.pop("best_crop_key", None))
    return items


@router.get("/{job_id}/events", response_model=list[EventOut])
async def upload_job_events(
    job_id: JobId,
    request: Request,
    state: StateDep,
    p: Uploader,
    _s: Searcher,
    _why: RequiredPurpose,
) -> list[dict[str, Any]]:
    """The plate events made from this upload job's frames (at most 500, newest first)."""
    job = await fetch_job(state, p, job_id)
    items = await asyncio.to_thread(_described, state, job)
    audit(state, request, p, "upload_events", query={"job_id": job_id}, result_count=len(items))
    return items
