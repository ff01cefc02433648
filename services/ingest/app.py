"""The ingest HTTP server: vendor push receivers, video uploads, /health and /metrics.

Every push is authenticated (device credential), rate limited, parsed by its format's pure
parser and answered 2xx only after the broker acknowledged every resulting record. Bad input is
answered 4xx with a reason and kept, with its original bytes, in the ingest dead-letter topic.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaException
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from platestream.dlq import DeadLetters
from platestream.errors import BadInputError, SerdeError
from platestream.httpheaders import SecurityHeaders
from platestream.proxies import request_client
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from services.ingest.devices import AuthError, DeviceAuth, TokenBucket
from services.ingest.formats import PARSERS
from services.ingest.loginthrottle import LoginThrottle
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import AckingProducer, DeliveryError, EventPublisher
from services.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)

SECRET_HEADERS = {"authorization", "x-api-key", "cookie", "proxy-authorization"}
DLQ_MAX_BODY = 4 * 1024 * 1024
_DIGEST_USER = re.compile(r'username\s*=\s*"?([^",]*)"?', re.IGNORECASE)
# Larger bodies are parsed in a worker thread, so one big push cannot hold the event loop (and
# every other camera's push) while it is parsed; small ones stay inline (a thread hop costs more).
PARSE_INLINE_BYTES = 64 * 1024


class TooLarge(Exception):
    pass


@dataclass
class IngestContext:
    """What the routes use; built by ``services.ingest.processor.build_context``."""

    settings: IngestSettings
    auth: DeviceAuth
    limiter: TokenBucket
    producer: AckingProducer
    publisher: EventPublisher
    dead_letters: DeadLetters
    metrics: IngestMetrics
    serde: AvroSerde
    uploads: Any = None  # services.ingest.uploads.UploadManager
    device_activity: Any = None  # services.ingest.device_registry.DeviceActivity
    cameras: Any = None  # services.ingest.camera_state.CameraDirectory


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise TooLarge(f"body of {declared} bytes exceeds the {limit}-byte limit")
    buf = bytearray()
    async for chunk in request.stream():
        buf += chunk
        if len(buf) > limit:
            raise TooLarge(f"body exceeds the {limit}-byte limit")
    return bytes(buf)


def request_uri(request: Request) -> str:
    """The request-target as a digest client signs it: path plus query."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def remote_address(request: Request) -> str:
    """The device's address: the peer, or, when the peer is one of
    ``PLATESTREAM_INGEST_TRUSTED_PROXIES``, the client it forwarded for (platestream/proxies.py).
    Login throttling, the device's reported remote address and dead letters use it."""
    proxies = getattr(request.app.state, "trusted_proxies", ())
    return request_client(request, proxies) or ""


def safe_headers(request: Request) -> dict[str, str]:
    out = {k: v[:512] for k, v in request.headers.items() if k.lower() not in SECRET_HEADERS}
    out["x-platestream-path"] = request.url.path
    out["x-platestream-remote"] = remote_address(request)
    return out


def throttle_key(request: Request) -> str | None:
    """Client address and the user name a basic or digest credential claims, so a password
    guesser is throttled without locking out other devices behind the same address; API keys
    claim no identity, so their failures share one bucket per address. None when no credential
    was presented (a first request awaiting the digest challenge)."""
    address = remote_address(request)
    h = request.headers
    if h.get("x-api-key") or request.query_params.get("api_key"):
        return f"{address}|api-key"
    auth = h.get("authorization", "")
    if not auth:
        return None
    scheme, _, rest = auth.partition(" ")
    if scheme.lower() == "basic":
        try:
            user = base64.b64decode(rest.strip(), validate=True).split(b":", 1)[0][:64]
        except (binascii.Error, ValueError):
            user = b"?"
        return f"{address}|user:{user.decode('utf-8', 'replace')}"
    m = _DIGEST_USER.search(rest)
    return f"{address}|user:{m.group(1)[:64] if m else '?'}"


def create_app(ctx: IngestContext, *, lifespan: Any = None) -> FastAPI:
    app = FastAPI(title="platestream ingest", version="1", lifespan=lifespan)
    app.add_middleware(SecurityHeaders)
    failed_logins = LoginThrottle()
    app.state.ctx = ctx
    app.state.trusted_proxies = ctx.settings.trusted_proxies()
    m = ctx.metrics

    async def dead_letter(
        source: str, body: bytes, reason: str, request: Request, principal: str | None
    ) -> None:
        headers = safe_headers(request)
        if principal:
            headers["x-platestream-device"] = principal
        if len(body) > DLQ_MAX_BODY:
            headers["x-platestream-truncated-from"] = str(len(body))
            body = body[:DLQ_MAX_BODY]
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[None] = loop.create_future()

        def settle(err: Any) -> None:
            if fut.done():
                return
            if err is not None:
                fut.set_exception(DeliveryError(str(err)))
            else:
                fut.set_result(None)

        def done(err: Any, _msg: Any) -> None:
            loop.call_soon_threadsafe(settle, err)

        try:
            ctx.dead_letters.raw(
                body,
                reason,
                key=principal.encode() if principal else None,
                headers=headers,
                content_type=request.headers.get("content-type"),
                on_delivery=done,
            )
            await asyncio.wait_for(fut, timeout=ctx.settings.ingest_ack_timeout_s)
            m.dead_letters.labels(source).inc()
        except (DeliveryError, TimeoutError, BufferError, SerdeError, KafkaException) as exc:
            logger.error("could not dead-letter a rejected %s push: %s", source, exc)

    def reject(source: str, status: int, reason: str, kind: str) -> JSONResponse:
        m.rejected.labels(source, kind).inc()
        m.requests.labels(source, str(status)).inc()
        return JSONResponse({"error": reason}, status_code=status)

    @app.post("/push/{source}", tags=["push"])
    async def push(source: str, request: Request) -> Response:
        """Receive one device push in the format named by the path; 200 once Kafka acknowledged it."""
        started = time.perf_counter()
        received_at = now_ms()
        if source not in PARSERS:
            return reject(
                "unknown",
                404,
                f"unknown format {source[:40]!r}; one of: {', '.join(PARSERS)}",
                "format",
            )
        who = throttle_key(request)
        wait = failed_logins.retry_after(who) if who is not None else 0.0
        if wait > 0:  # refused before the credential is even looked at
            resp = reject(
                source, 429, "too many failed logins for this credential", "auth-throttle"
            )
            resp.headers["Retry-After"] = str(int(wait) + 1)
            return resp
        try:
            principal = ctx.auth.authenticate(
                request.headers,
                request.query_params,
                method=request.method,
                uri=request_uri(request),
            )
        except AuthError as exc:
            # Unauthenticated traffic is counted, not dead-lettered: anyone could fill the topic.
            request.state.device_id = exc.device_id
            if exc.status == 401 and who is not None:
                failed_logins.failed(who)
            resp = reject(source, exc.status, exc.reason, "auth")
            resp.headers.append("WWW-Authenticate", ctx.auth.digest_challenge(stale=exc.stale))
            resp.headers.append("WWW-Authenticate", 'Basic realm="platestream-ingest"')
            return resp
        request.state.device_id = principal.device_id
        if not ctx.limiter.allow(principal.device_id, principal.rate_per_s, principal.burst):
            resp = reject(
                source,
                429,
                f"rate limit of {principal.rate_per_s:g}/s exceeded for device {principal.device_id}",
                "rate",
            )
            resp.headers["Retry-After"] = "1"
            return resp
        try:
            body = await read_body(request, ctx.settings.ingest_max_body_bytes)
        except TooLarge as exc:
            await dead_letter(source, b"", str(exc), request, principal.device_id)
            return reject(source, 413, str(exc), "size")
        requested = request.query_params.get("camera_id") or request.headers.get("x-camera-id")
        try:
            camera_id = principal.camera_for(requested, source)
        except AuthError as exc:
            await dead_letter(source, body, exc.reason, request, principal.device_id)
            return reject(source, exc.status, exc.reason, "camera")
        if ctx.cameras is not None and ctx.cameras.disabled(camera_id):
            # the operator took the camera out of service: refused and counted, not dead-lettered
            return reject(source, 403, f"camera {camera_id} is disabled", "camera-disabled")
        content_type = request.headers.get("content-type", "")
        try:
            parse = PARSERS[source]
            if len(body) > PARSE_INLINE_BYTES:
                events = await run_in_threadpool(parse, body, content_type)
            else:
                events = parse(body, content_type)
        except BadInputError as exc:
            reason = str(exc)
            await dead_letter(source, body, reason, request, principal.device_id)
            status = 415 if reason.startswith("unsupported content type") else 400
            return reject(source, status, reason, "content-type" if status == 415 else "parse")
        except (
            Exception
        ) as exc:  # a parser bug must not become a 500 for the device; counted and logged
            logger.exception("parser %s failed unexpectedly", source)
            m.parser_errors.labels(source).inc()
            reason = f"unreadable {source} payload ({type(exc).__name__})"
            await dead_letter(source, body, reason, request, principal.device_id)
            return reject(source, 400, reason, "parse")
        if not events:
            m.requests.labels(source, "200").inc()
            return JSONResponse(
                {"accepted": 0, "event_ids": [], "note": "no plate event in this push"}
            )
        try:
            records = await ctx.publisher.publish(
                events, camera_id=camera_id, received_at=received_at
            )
        except (SerdeError, UnicodeError) as exc:  # text no encoder takes (lone surrogates)
            await dead_letter(source, body, str(exc), request, principal.device_id)
            return reject(source, 400, f"event cannot be encoded: {exc}", "encode")
        except (DeliveryError, TimeoutError) as exc:
            why = str(exc) or type(exc).__name__  # a TimeoutError says nothing by itself
            logger.error("publishing %s push for camera %s failed: %s", source, camera_id, why)
            m.requests.labels(source, "503").inc()
            return JSONResponse(
                {"error": f"not acknowledged by the broker: {why}"},
                status_code=503,
                headers={"Retry-After": "5"},
            )
        for r in records:
            for img in r["images"]:
                m.images.labels("inline" if img["data"] is not None else "s3").inc()
        m.events.labels(source).inc(len(records))
        no_reads = sum(1 for r in records if r["plate"] is None)
        if no_reads:
            m.no_reads.labels(source).inc(no_reads)
        m.ack_seconds.labels(source).observe(time.perf_counter() - started)
        m.requests.labels(source, "200").inc()
        if ctx.settings.log_plates:
            logger.info(
                "accepted %s push for camera %s: %s",
                source,
                camera_id,
                [r["plate"] for r in records],
            )
        body_out: dict[str, Any] = {
            "accepted": len(records),
            "event_ids": [r["event_id"] for r in records],
        }
        if no_reads:
            body_out["no_read"] = no_reads  # accepted as events without a plate
        return JSONResponse(body_out)

    if ctx.device_activity is not None:

        @app.middleware("http")
        async def count_device(request: Request, call_next: Any) -> Response:
            response: Response = await call_next(request)
            device_id = getattr(request.state, "device_id", None)
            if device_id and request.url.path.startswith("/push/"):
                ok = response.status_code < 300
                ctx.device_activity.record(
                    device_id,
                    ok=ok,
                    remote=remote_address(request) or None,
                    reject=None if ok else f"HTTP {response.status_code}",
                )
            return response

    @app.get("/health", tags=["ops"])
    async def health() -> dict[str, Any]:
        """Liveness: the server answers and its producer thread runs."""
        return {"status": "ok", "devices": len(ctx.settings.devices())}

    @app.get("/metrics", tags=["ops"])
    async def metrics() -> Response:
        """Prometheus metrics."""
        return Response(generate_latest(m.registry), media_type=CONTENT_TYPE_LATEST)

    if ctx.uploads is not None:
        from services.ingest.uploads import add_upload_routes

        add_upload_routes(app, ctx, failed_logins=failed_logins)
    return app


@contextlib.asynccontextmanager
async def _noop_lifespan(_app: FastAPI) -> AsyncIterator[None]:
    yield
