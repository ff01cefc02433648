"""/ready says which backend is down without passing on its error text (hosts, users, SQL)."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from services.api.main import create_app
from services.api.settings import ApiSettings

SECRET_TEXT = "Code: 516. Authentication failed: password for user platestream at 10.9.8.7:8123"


class _Fine:
    def list_topics(self, timeout: float) -> object:
        return object()

    def bucket_exists(self, name: str) -> bool:
        return True


class _Down:
    def command(self, sql: str) -> None:
        raise RuntimeError(SECRET_TEXT)


def test_ready_does_not_echo_backend_errors(caplog: pytest.LogCaptureFixture) -> None:
    settings = ApiSettings(api_projections_enabled=False, api_live_enabled=False)
    app = create_app(settings, producer=_Fine(), clickhouse=_Down(), s3=_Fine())
    with caplog.at_level(logging.WARNING):
        r = TestClient(app).get("/ready")
    assert r.status_code == 503
    checks = r.json()["checks"]
    assert checks["clickhouse"] == {"ok": False, "error": "unavailable"}
    assert checks["kafka"]["ok"] and checks["s3"]["ok"]
    assert "10.9.8.7" not in r.text and "password" not in r.text
    assert SECRET_TEXT in caplog.text  # the operator still finds the reason in the log
