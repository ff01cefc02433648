"""Operations: liveness, readiness of the backends, Prometheus metrics."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from services.api.deps import StateDep

router = APIRouter(tags=["operations"])
logger = logging.getLogger(__name__)


@router.get("/health")
def health() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


def _check(name: str, fn: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        fn()
        return {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 1)}
    except Exception as exc:  # any failure of a backend means not ready
        # the backend's text (hosts, users, SQL) goes to the log, not to an unauthenticated caller
        logger.warning("readiness: %s check failed: %s: %s", name, type(exc).__name__, exc)
        return {"ok": False, "error": "unavailable"}


@router.get("/ready")
def ready(state: StateDep) -> JSONResponse:
    """Readiness: Kafka, ClickHouse and S3 answer, and the account projections have caught up."""
    checks = {
        "kafka": _check("kafka", lambda: state.producer.list_topics(timeout=3)),
        "clickhouse": _check("clickhouse", lambda: state.clickhouse.command("SELECT 1")),
        "s3": _check("s3", lambda: state.s3.bucket_exists(state.settings.s3_bucket)),
        "accounts": {
            "ok": state.accounts.users.ready.is_set() or not state.settings.api_projections_enabled
        },
    }
    ok = all(c["ok"] for c in checks.values())
    return JSONResponse(
        {"status": "ready" if ok else "not ready", "checks": checks}, status_code=200 if ok else 503
    )


@router.get("/metrics")
def metrics(state: StateDep) -> Response:
    """Prometheus metrics (route templates and roles as labels, never plate text)."""
    return Response(generate_latest(state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
