"""Exports are audited before their data leaves, and refused (503) when the audit log is down."""

from __future__ import annotations

import uuid

import pytest
from fastapi.testclient import TestClient

from platestream.kafka import make_producer
from services.api.auth import hash_password
from services.api.identity import user_record
from services.api.main import create_app

from .helpers import PASSWORD, ApiEnv, audit_records, free_port

pytestmark = pytest.mark.integration


def test_export_audit_record_is_written_before_the_first_byte(api_env: ApiEnv) -> None:
    rid = f"export-{uuid.uuid4().hex[:8]}"
    with api_env.http.stream(
        "GET",
        "/api/v1/events/export",
        params={"plate": "ABC1234", "format": "jsonl"},
        headers={**api_env.headers("analyst"), "X-Request-ID": rid},
    ) as resp:
        assert resp.status_code == 200
        # no retry: the broker acknowledged the record before the response started
        # (the small body may already be sent in full, with its export_done record)
        before = {r["action"]: r for r in audit_records(api_env) if r["request_id"] == rid}
        assert "export" in before
        assert before["export"]["actor"] == "user:analyst"
        assert before["export"]["result_count"] is None
        rows = [ln for ln in resp.iter_lines() if ln]
    assert len(rows) == len(api_env.seed.by_plate("ABC1234"))


def test_export_answers_503_when_its_audit_record_cannot_be_written(api_env: ApiEnv) -> None:
    """A real producer whose broker does not answer: searches (audited asynchronously) still
    answer, the export answers 503 within the audit timeout and sends no row."""
    settings = api_env.settings.model_copy(
        update={
            "api_projections_enabled": False,
            "api_live_enabled": False,
            "api_audit_timeout_s": 1.0,
        }
    )
    dead = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    producer = make_producer(dead, **{"message.timeout.ms": 2000})
    app = create_app(settings, producer=producer)
    accounts = app.state.ps.accounts
    user = user_record(
        "audit-down", "analyst", hash_password(PASSWORD), action="created", actor="test"
    )
    accounts.users.apply("audit-down", user)
    headers = {
        "Authorization": f"Bearer {accounts.tokens_for(user)['access_token']}",
        "X-Purpose": "investigation",
    }
    with TestClient(app) as client:
        search = client.get("/api/v1/events", params={"plate": "ABC1234"}, headers=headers)
        assert search.status_code == 200 and search.json()["items"]
        export = client.get(
            "/api/v1/events/export", params={"plate": "ABC1234", "format": "csv"}, headers=headers
        )
        assert export.status_code == 503
        assert "ABC1234" not in export.text and "event log unavailable" in export.text
