"""Video uploads from signed-in users (permission ``upload``): forwarded as a stream to ingest,
which spools, checks and samples the video into frames; the API stores nothing itself."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request, status
from fastapi.responses import JSONResponse

from platestream import uploadtoken
from services.api.auth import Perm, Principal
from services.api.deps import StateDep, audit, require
from services.api.state import AppState

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])

Uploader = Annotated[Principal, Depends(require(Perm.UPLOAD))]
CameraId = Annotated[str, Query(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
JobId = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


def _answer(resp: httpx.Response) -> JSONResponse:
    try:
        body = resp.json()
    except ValueError:
        body = {"detail": resp.text[:500]}
    if isinstance(body, dict) and "error" in body and "detail" not in body:
        body["detail"] = body["error"]
    return JSONResponse(body, status_code=resp.status_code)


def _unavailable(exc: httpx.HTTPError) -> HTTPException:
    logger.error("ingest unreachable for an upload: %s", exc)
    return HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, f"ingest unavailable: {exc}")


@router.post("", status_code=status.HTTP_202_ACCEPTED)
async def upload_video(
    request: Request,
    state: StateDep,
    p: Uploader,
    camera_id: CameraId,
    filename: Annotated[str, Query(max_length=200)] = "upload",
) -> JSONResponse:
    """Upload a video for a camera (raw body); answers the ingest job to poll."""
    token = uploadtoken.issue(uploadtoken.key(state.settings), p.name, camera_id)
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": request.headers.get("content-type", "application/octet-stream"),
    }
    url = f"{state.settings.api_ingest_url.rstrip('/')}/api/v1/uploads"
    timeout = httpx.Timeout(60.0, read=600.0)
    try:
        async with httpx.AsyncClient(timeout=timeout) as client:
            resp = await client.post(
                url,
                params={"camera_id": camera_id, "filename": filename},
                content=request.stream(),
                headers=headers,
            )
    except httpx.HTTPError as exc:
        raise _unavailable(exc) from exc
    audit(
        state,
        request,
        p,
        "upload",
        query={"camera_id": camera_id, "filename": filename},
        status_code=resp.status_code,
    )
    return _answer(resp)


async def ask_ingest_for_job(state: AppState, p: Principal, job_id: str) -> httpx.Response:
    """Ingest's answer about an upload job, asked with a short-lived upload token for ``p``
    (503 when ingest cannot be reached)."""
    token = uploadtoken.issue(uploadtoken.key(state.settings), p.name, None)
    url = f"{state.settings.api_ingest_url.rstrip('/')}/api/v1/uploads/{job_id}"
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            return await client.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise _unavailable(exc) from exc


@router.get("/{job_id}")
async def upload_status(job_id: JobId, state: StateDep, p: Uploader) -> Any:
    """Progress of an upload job (state, frames read and sent)."""
    return _answer(await ask_ingest_for_job(state, p, job_id))
