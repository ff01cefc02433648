"""The API as a service on the live stack: health, readiness, metrics without plates, request
ids; the console and the OpenAPI schema are served.

The endpoints against the same live stack, one module per subject: test_api_auth.py (login,
tokens, users, API keys, the role matrix), test_api_events.py (search, event view, export,
timeline, stats, audit), test_api_management.py (cameras, watchlists, review, training
export, alerts), test_api_replay.py, test_api_streaming.py (the live WebSocket and SSE).
They share one seeded environment per session (tests/api/conftest.py) and pytest runs them in
name order, the order their data needs (see their docstrings). Reading a topic and the audit
records: tests/api/helpers.py.
"""

from __future__ import annotations

import pytest

from .helpers import ApiEnv

pytestmark = pytest.mark.integration


def test_health_ready_metrics_request_id(api_env: ApiEnv) -> None:
    assert api_env.http.get("/health").json() == {"status": "ok"}
    ready = api_env.http.get("/ready")
    assert ready.status_code == 200 and all(c["ok"] for c in ready.json()["checks"].values())
    r = api_env.get("/api/v1/plates/XYZ9876/timeline", headers={"X-Request-ID": "rid-123"})
    assert r.headers["X-Request-ID"] == "rid-123"
    assert api_env.http.get("/health").headers["X-Request-ID"]
    metrics = api_env.http.get("/metrics").text
    assert 'route="/api/v1/plates/{plate}/timeline"' in metrics
    for e in api_env.seed.events:
        assert e["plate"] not in metrics


def test_console_is_served(api_env: ApiEnv) -> None:
    r = api_env.http.get("/", follow_redirects=True)
    assert r.status_code == 200 and "platestream console" in r.text
    assert api_env.http.get("/ui/app.js").status_code == 200
    spec = api_env.http.get("/api/v1/openapi.json").json()
    assert (
        "/api/v1/events" in spec["paths"]
        and "OAuth2PasswordBearer" in spec["components"]["securitySchemes"]
    )
