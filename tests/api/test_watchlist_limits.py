"""Watchlist entries the API refuses (422 naming ``pattern``) because enrich could not run them."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from services.api.routes.watchlists import EntryIn

app = FastAPI()


@app.post("/entries")
def _entries(body: EntryIn) -> dict[str, str]:
    return {"pattern": body.pattern}


client = TestClient(app)


@pytest.mark.parametrize(
    ("pattern", "match_type", "why"),
    [
        ("(A|AA)*\\1", "regex", "not accepted by RE2"),
        ("(?=AB)AB", "regex", "not accepted by RE2"),
        ("A" * 65, "regex", "at most 64 characters"),
        ("A" * 33, "exact", "longer than 32"),
    ],
)
def test_patterns_enrich_cannot_run_answer_422_naming_the_field(
    pattern: str, match_type: str, why: str
) -> None:
    r = client.post("/entries", json={"list_id": "l", "pattern": pattern, "match_type": match_type})
    assert r.status_code == 422
    detail = r.json()["detail"][0]
    assert detail["loc"] == ["body", "pattern"] and why in detail["msg"], detail


def test_a_nested_quantifier_regex_is_accepted_because_re2_runs_it_in_linear_time() -> None:
    r = client.post(
        "/entries", json={"list_id": "l", "pattern": "(A|AA)*(A|AA)*B", "match_type": "regex"}
    )
    assert r.status_code == 200 and r.json() == {"pattern": "(A|AA)*(A|AA)*B"}
