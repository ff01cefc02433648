"""The API application: `create_app(settings, producer=..., clickhouse=..., s3=...)`."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from platestream import topics as catalogue
from platestream.httpheaders import SecurityHeaders
from platestream.serde import AvroSerde
from services.api.audit import Auditor
from services.api.auth import TokenIssuer
from services.api.control import ControlPlane
from services.api.identity import AccountError, Accounts
from services.api.live import LiveHub
from services.api.logctx import RequestContext
from services.api.metrics import ApiMetrics
from services.api.projection import TopicProjection
from services.api.publish import Publisher, PublishError
from services.api.ratelimit import FailureWindow, RateLimiter
from services.api.replay import ReplayManager
from services.api.routes import ROUTERS
from services.api.secrets import SecretStore
from services.api.settings import ApiSettings
from services.api.slots import Slots
from services.api.state import AppState

logger = logging.getLogger(__name__)

DESCRIPTION = """Search, replay and manage licence-plate events of a platestream deployment.

Authenticate with `POST /api/v1/auth/token` (OAuth2 password flow) and send
`Authorization: Bearer <token>`, or send a machine key as `X-API-Key`. Every search, export and
image view is audited. Plate data is personal data."""


def build_state(
    settings: ApiSettings,
    *,
    producer: Any = None,
    clickhouse: Any = None,
    s3: Any = None,
    serde: AvroSerde | None = None,
) -> AppState:
    """Wire the collaborators; clients not given are made from the settings."""
    if producer is None:
        from platestream.kafka import make_producer

        producer = make_producer(settings, **{"linger.ms": 2})
    if clickhouse is None:
        from platestream.clickhouse import make_clickhouse

        clickhouse = make_clickhouse(
            settings,
            autogenerate_session_id=False,
            send_receive_timeout=settings.api_query_timeout_s,
        )
    if s3 is None:
        from platestream.s3 import make_s3

        s3 = make_s3(settings)
    serde = serde or AvroSerde(settings=settings)
    publisher = Publisher(producer=producer, serde=serde, settings=settings)

    def projection(topic: catalogue.Topic) -> TopicProjection:
        return TopicProjection(settings=settings, topic=settings.topic(topic.name), serde=serde)

    users, keys = projection(catalogue.USERS), projection(catalogue.API_KEYS)
    cameras, bolo, acks = (
        projection(catalogue.CAMERAS),
        projection(catalogue.BOLO),
        projection(catalogue.ALERT_ACKS),
    )
    issuer = TokenIssuer(
        settings.jwt_secret,
        access_ttl_s=settings.api_access_token_ttl_s,
        refresh_ttl_s=settings.api_refresh_token_ttl_s,
    )
    metrics = ApiMetrics()
    control = ControlPlane.build(settings, serde)
    state = AppState(
        settings=settings,
        serde=serde,
        producer=producer,
        publisher=publisher,
        clickhouse=clickhouse,
        s3=s3,
        accounts=Accounts(users=users, keys=keys, publisher=publisher, issuer=issuer),
        cameras=cameras,
        bolo=bolo,
        acks=acks,
        auditor=Auditor(publisher, metrics=metrics),
        limiter=RateLimiter(settings.api_rate_per_s, settings.api_rate_burst),
        login_limiter=RateLimiter(settings.api_login_rate_per_s, settings.api_login_burst),
        secrets=SecretStore(settings.secrets_dir),
        live=LiveHub(settings=settings, serde=serde, metrics=metrics),
        replays=ReplayManager(settings=settings, clickhouse=clickhouse, publisher=publisher),
        training_slots=Slots(
            "training exports",
            per_user=settings.api_training_max_per_user,
            per_process=settings.api_training_max_running,
            retry_after_s=10,
        ),
        control=control,
        projections=[users, keys, cameras, bolo, acks, *control.projections()],
        metrics=metrics,
        account_failures=FailureWindow(
            settings.api_login_account_failures, settings.api_login_account_window_s
        ),
        trusted_proxies=tuple(
            ipaddress.ip_network(c, strict=False) for c in settings.api_trusted_proxies
        ),
    )
    return state


def create_app(
    settings: ApiSettings,
    *,
    producer: Any = None,
    clickhouse: Any = None,
    s3: Any = None,
    serde: AvroSerde | None = None,
) -> FastAPI:
    """The FastAPI app; background consumers start with the app's lifespan and stop with it."""
    state = build_state(settings, producer=producer, clickhouse=clickhouse, s3=s3, serde=serde)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if settings.api_projections_enabled:
            for p in state.projections:
                p.start()
            for p in state.projections:
                if not await _wait_ready(p, 15.0):
                    logger.warning(
                        "projection of %s not caught up after 15 s; serving anyway", p.topic
                    )
        if settings.api_live_enabled:
            state.live.start()
        try:
            yield
        finally:
            state.replays.stop()
            state.live.stop()
            for p in state.projections:
                p.stop()
            state.publisher.flush(5.0)

    app = FastAPI(
        title="platestream API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
    )
    app.state.ps = state
    for router in ROUTERS:
        app.include_router(router)
    app.add_middleware(RequestContext, metrics=state.metrics)
    app.add_middleware(SecurityHeaders, no_store_prefix="/api/")
    _install_errors(app)
    if settings.api_web_dir.is_dir():
        app.mount("/ui", StaticFiles(directory=settings.api_web_dir, html=True), name="ui")

        @app.get("/", include_in_schema=False)
        def root() -> RedirectResponse:
            return RedirectResponse("/ui/")

    return app


async def _wait_ready(p: TopicProjection, timeout: float) -> bool:
    import asyncio

    return await asyncio.to_thread(p.ready.wait, timeout)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(PublishError)
    async def publish_error(_request: Request, exc: PublishError) -> JSONResponse:
        logger.error("publish failed: %s", exc)
        return JSONResponse({"detail": f"event log unavailable: {exc}"}, status_code=503)

    @app.exception_handler(AccountError)
    async def account_error(_request: Request, exc: AccountError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        return JSONResponse({"detail": errors}, status_code=422)

    try:
        from clickhouse_connect.driver.exceptions import ClickHouseError
    except ImportError:  # pragma: no cover
        return

    @app.exception_handler(ClickHouseError)
    async def clickhouse_error(_request: Request, exc: ClickHouseError) -> JSONResponse:
        logger.error("ClickHouse query failed: %s", str(exc)[:500])
        return JSONResponse({"detail": "event store unavailable or query failed"}, status_code=503)
