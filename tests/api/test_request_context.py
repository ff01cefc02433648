"""The request-context middleware: request ids, per-route counts and timings (no server)."""

from __future__ import annotations

import logging

import pytest
from fastapi import FastAPI, HTTPException, Request
from fastapi.testclient import TestClient

from services.api.logctx import RequestContext, request_id_var
from services.api.metrics import ApiMetrics


def _app() -> tuple[FastAPI, ApiMetrics]:
    app = FastAPI()
    metrics = ApiMetrics()

    @app.get("/plates/{plate}")
    def plate(plate: str, request: Request) -> dict[str, str | None]:
        return {"state": request.state.request_id, "var": request_id_var.get()}

    @app.get("/limited")
    def limited() -> None:
        raise HTTPException(429, "slow down")

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    app.add_middleware(RequestContext, metrics=metrics)
    return app, metrics


def _count(metrics: ApiMetrics, route: str, status: str) -> float:
    value = metrics.registry.get_sample_value(
        "platestream_api_requests_total", {"method": "GET", "route": route, "status": status}
    )
    return value or 0.0


def test_the_callers_request_id_is_used_everywhere_and_echoed() -> None:
    app, _ = _app()
    with TestClient(app) as client:
        r = client.get("/plates/ABC123", headers={"X-Request-ID": "rid-1"})
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "rid-1"
    assert r.json() == {"state": "rid-1", "var": "rid-1"}
    assert request_id_var.get() is None  # reset after the request


def test_a_request_without_one_gets_a_new_id_and_long_ones_are_cut() -> None:
    app, _ = _app()
    with TestClient(app) as client:
        a = client.get("/plates/A1")
        b = client.get("/plates/A1")
        long = client.get("/plates/A1", headers={"X-Request-ID": "x" * 500})
    assert len(a.headers["x-request-id"]) == 32
    assert a.headers["x-request-id"] != b.headers["x-request-id"]
    assert a.json()["state"] == a.headers["x-request-id"]
    assert long.headers["x-request-id"] == "x" * 128


def test_requests_are_counted_by_route_template_never_by_plate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, metrics = _app()
    with caplog.at_level(logging.INFO), TestClient(app, raise_server_exceptions=False) as client:
        client.get("/plates/ABC123")
        client.get("/plates/XYZ9")
        client.get("/limited")
        assert client.get("/boom").status_code == 500
        client.get("/nowhere")
    assert _count(metrics, "/plates/{plate}", "200") == 2
    assert _count(metrics, "/limited", "429") == 1
    assert _count(metrics, "/boom", "500") == 1
    assert _count(metrics, "unmatched", "404") == 1
    assert metrics.registry.get_sample_value("platestream_api_rate_limited_total") == 1
    assert (
        metrics.registry.get_sample_value(
            "platestream_api_request_seconds_count", {"method": "GET", "route": "/plates/{plate}"}
        )
        == 2
    )
    lines = [r.getMessage() for r in caplog.records if r.name == "services.api.main"]
    assert len(lines) == 5
    assert not any("ABC123" in line for line in lines)
    assert any(line.startswith("GET /plates/{plate} -> 200 in") for line in lines)
