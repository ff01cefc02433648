"""Video uploads: ``POST /api/v1/uploads`` (and ``platestream ingest file``) turn a video into frames.

The body is spooled to disk, checked to be a readable video (else 415), and a job thread samples it
at ``ingest_upload_fps`` into ``anpr.frames.v1`` (source ``upload``, with the job id), reporting
progress that ``GET /api/v1/uploads/{job_id}`` returns.

Uploads are held to the push routes' rules: failed logins are throttled, the device's token bucket
applies (429 with Retry-After), and the body, raw or multipart, stops at ``ingest_upload_max_bytes``
(413, with whatever was spooled deleted): a declared Content-Length over it is refused before a
byte is read, and the multipart parser reads through a counter that stops it at the limit.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
import threading
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.formparsers import MultiPartException, MultiPartParser

from platestream import uploadtoken
from platestream.errors import BadInputError, ConfigError
from platestream.serde import AvroSerde
from platestream.settings import DEV_JWT_SECRET
from platestream.timeutil import now_ms
from services.ingest.devices import AuthError, Principal
from services.ingest.devicetime import parse_time
from services.ingest.frames import FrameGate, FramePublisher
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import AckingProducer, ImageStore
from services.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)

MULTIPART_OVERHEAD = 64 * 1024  # boundaries and part headers around the file, beyond the limit


class UploadTooLarge(BadInputError):
    """The upload is larger than ``ingest_upload_max_bytes``."""


async def capped(stream: AsyncIterator[bytes], limit: int) -> AsyncGenerator[bytes, None]:
    """The request body, raising UploadTooLarge as soon as more than ``limit`` bytes came."""
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise UploadTooLarge(f"upload exceeds {limit} bytes")
        yield chunk


@dataclass
class UploadJob:
    job_id: str
    camera_id: str
    filename: str
    state: str = "queued"  # queued | running | done | failed
    frames_total: int | None = None
    frames_read: int = 0
    frames_sent: int = 0
    progress: float = 0.0
    error: str | None = None
    created_at: int = field(default_factory=now_ms)
    finished_at: int | None = None

    def view(self) -> dict[str, Any]:
        return asdict(self)


def probe(path: Path) -> int | None:
    """Frame count of a readable video (None if unknown); BadInputError if unreadable."""
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise BadInputError("not a readable video")
        ok, _ = cap.read()
        if not ok:
            raise BadInputError("video has no decodable frame")
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        return count if count > 0 else None
    finally:
        cap.release()


class UploadManager:
    def __init__(
        self,
        *,
        settings: IngestSettings,
        producer: AckingProducer,
        serde: AvroSerde,
        store: ImageStore | None,
        metrics: IngestMetrics | None = None,
    ) -> None:
        self._settings = settings
        self._frames = FramePublisher(
            producer=producer, serde=serde, settings=settings, store=store, metrics=metrics
        )
        self._metrics = metrics
        self.jobs: dict[str, UploadJob] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.spool = Path(
            settings.ingest_upload_dir or Path(tempfile.gettempdir()) / "platestream-uploads"
        )
        self.spool.mkdir(parents=True, exist_ok=True)

    def close(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=10.0)

    def run_job(
        self, job: UploadJob, path: Path, *, base_ts: int | None = None, delete: bool = True
    ) -> UploadJob:
        """Sample the video into frames (blocking); the job records progress as it goes."""
        job.state = "running"
        base = base_ts if base_ts is not None else now_ms()
        gate = FrameGate(self._settings.ingest_upload_fps, dup_threshold=0.0)
        cap = cv2.VideoCapture(str(path))
        futures = []
        try:
            if not cap.isOpened():
                raise BadInputError("not a readable video")
            seq = 0
            while not self._stop.is_set():
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                job.frames_read += 1
                ts = base + int(cap.get(cv2.CAP_PROP_POS_MSEC))
                if gate.check(ts, frame) is None:
                    futures.append(
                        self._frames.publish(
                            camera_id=job.camera_id,
                            source="upload",
                            session=job.job_id,
                            seq=seq,
                            ts=ts,
                            frame=frame,
                            job_id=job.job_id,
                        )
                    )
                    seq += 1
                if job.frames_total:
                    job.progress = min(0.99, job.frames_read / job.frames_total)
            for fut in futures:
                fut.result(timeout=self._settings.ingest_ack_timeout_s)
            job.frames_sent = len(futures)
            job.progress = 1.0
            job.state = "done" if not self._stop.is_set() else "failed"
            if self._stop.is_set():
                job.error = "server stopped"
        except Exception as exc:  # job failures are reported through the job's status
            job.state, job.error = "failed", str(exc)
            logger.error("upload job %s failed: %s", job.job_id, exc)
        finally:
            cap.release()
            job.finished_at = now_ms()
            if delete:
                path.unlink(missing_ok=True)
            if self._metrics is not None:
                self._metrics.uploads.labels(job.state).inc()
        return job

    def submit(
        self, path: Path, *, camera_id: str, filename: str, base_ts: int | None = None
    ) -> UploadJob:
        try:
            total = probe(path)
        except BadInputError:
            path.unlink(missing_ok=True)
            raise
        job = UploadJob(
            job_id=str(uuid.uuid4()), camera_id=camera_id, filename=filename, frames_total=total
        )
        self.jobs[job.job_id] = job
        t = threading.Thread(
            target=self.run_job,
            args=(job, path),
            kwargs={"base_ts": base_ts},
            name=f"upload-{job.job_id[:8]}",
            daemon=True,
        )
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        return job


def _upload_user(request: Request, secret: str) -> Principal | None:
    """A user the API forwarded with an upload token (platestream/uploadtoken.py), or None."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or token.count(".") != 2:
        return None
    found = uploadtoken.verify(secret, token.strip())
    if found is None:
        return None
    user, camera = found
    return Principal(
        device_id=f"user:{user}",
        camera_ids=frozenset({camera} if camera else ()),
        via="user",
        # a token without a camera only reads job status: it may not upload anywhere
        sources=frozenset({"upload"} if camera else {"upload-status"}),
    )


def add_upload_routes(app: Any, ctx: Any, *, failed_logins: Any = None) -> None:
    manager: UploadManager = ctx.uploads
    if ctx.settings.env == "production" and uploadtoken.key(ctx.settings) == DEV_JWT_SECRET:
        # upload tokens signed with the public development key would let anyone upload
        raise ConfigError(
            "ingest's upload routes verify the API's upload tokens: set "
            "PLATESTREAM_UPLOAD_TOKEN_SECRET (the same as the API's) for `ingest serve`; "
            "the other ingest commands do not need it"
        )

    def principal_for(request: Request) -> Any:
        from services.ingest.app import request_uri

        user = _upload_user(request, uploadtoken.key(ctx.settings))
        if user is not None:
            return user
        return ctx.auth.authenticate(
            request.headers, request.query_params, method=request.method, uri=request_uri(request)
        )

    def admit(request: Request) -> Any:
        """The caller's principal, or the JSONResponse refusing it (auth, throttle, rate)."""
        from services.ingest.app import throttle_key

        who = throttle_key(request)
        wait = failed_logins.retry_after(who) if failed_logins and who is not None else 0.0
        if wait > 0:
            return JSONResponse(
                {"error": "too many failed logins for this credential"},
                status_code=429,
                headers={"Retry-After": str(int(wait) + 1)},
            )
        try:
            principal = principal_for(request)
        except AuthError as exc:
            if exc.status == 401 and failed_logins and who is not None:
                failed_logins.failed(who)
            resp = JSONResponse({"error": exc.reason}, status_code=exc.status)
            if exc.status == 401:
                resp.headers.append("WWW-Authenticate", ctx.auth.digest_challenge(stale=exc.stale))
            return resp
        if not ctx.limiter.allow(principal.device_id, principal.rate_per_s, principal.burst):
            if ctx.metrics is not None:
                ctx.metrics.rejected.labels("upload", "rate").inc()
            return JSONResponse(
                {
                    "error": f"rate limit of {principal.rate_per_s:g}/s exceeded "
                    f"for {principal.device_id}"
                },
                status_code=429,
                headers={"Retry-After": "1"},
            )
        return principal

    async def spool_multipart(request: Request, path: Path, limit: int) -> str | None:
        """Write the multipart field 'file' to ``path``; its filename (None: no such field)."""
        parser = MultiPartParser(
            request.headers,
            capped(request.stream(), limit + MULTIPART_OVERHEAD),
            max_files=1,
            max_fields=20,
            max_part_size=64 * 1024,
        )
        try:
            form = await parser.parse()
        except MultiPartException as exc:
            raise BadInputError(f"bad multipart upload: {exc.message}") from exc
        try:
            up = form.get("file")
            if up is None or isinstance(up, str):
                return None
            with path.open("wb") as fh:
                await asyncio.to_thread(shutil.copyfileobj, up.file, fh)
            if path.stat().st_size > limit:
                raise UploadTooLarge(f"upload exceeds {limit} bytes")
            return up.filename or ""
        finally:
            await form.close()

    @app.post("/api/v1/uploads", tags=["uploads"], status_code=202)
    async def upload(request: Request) -> Any:
        """Upload a video (raw body or multipart field 'file'); answers a job id to poll."""
        principal = admit(request)
        if isinstance(principal, JSONResponse):
            return principal
        try:
            camera_id = principal.camera_for(
                request.query_params.get("camera_id") or request.headers.get("x-camera-id"),
                "upload",
            )
        except AuthError as exc:
            return JSONResponse({"error": exc.reason}, status_code=exc.status)
        base_ts = None
        if request.query_params.get("recorded_at"):
            try:
                base_ts, _ = parse_time(request.query_params["recorded_at"])
            except BadInputError as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
        limit = ctx.settings.ingest_upload_max_bytes
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
            return JSONResponse(
                {"error": f"upload of {declared} bytes exceeds {limit} bytes"}, status_code=413
            )
        path = manager.spool / f"{uuid.uuid4().hex}.video"
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        filename = request.query_params.get("filename", "upload")
        submitted = False
        try:
            if ctype.startswith("multipart/"):
                named = await spool_multipart(request, path, limit)
                if named is None:
                    return JSONResponse(
                        {"error": "multipart upload needs a 'file' field"}, status_code=400
                    )
                filename = named or filename
            else:
                with path.open("wb") as fh:
                    async for chunk in capped(request.stream(), limit):
                        fh.write(chunk)
            if path.stat().st_size == 0:
                raise BadInputError("empty upload")
            job = await asyncio.to_thread(
                manager.submit, path, camera_id=camera_id, filename=filename, base_ts=base_ts
            )
            submitted = True  # the job's thread owns the file now
        except BadInputError as exc:
            too_large = isinstance(exc, UploadTooLarge)
            if too_large and ctx.metrics is not None:
                ctx.metrics.rejected.labels("upload", "size").inc()
            status = 413 if too_large else 415 if "video" in str(exc) else 400
            return JSONResponse({"error": str(exc)}, status_code=status)
        finally:  # refused, failed or the client went away: nothing stays in the spool
            if not submitted:
                path.unlink(missing_ok=True)
        return JSONResponse(
            {"job_id": job.job_id, "status_url": f"/api/v1/uploads/{job.job_id}", **job.view()},
            status_code=202,
        )

    @app.get("/api/v1/uploads/{job_id}", tags=["uploads"])
    async def upload_status(job_id: str, request: Request) -> Any:
        """Progress of an upload job."""
        principal = admit(request)
        if isinstance(principal, JSONResponse):
            return principal
        job = manager.jobs.get(job_id)
        if job is None or (principal.camera_ids and job.camera_id not in principal.camera_ids):
            return JSONResponse({"error": "no such upload job"}, status_code=404)
        return job.view()
