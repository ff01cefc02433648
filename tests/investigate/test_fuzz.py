"""The investigations endpoints fuzzed from their OpenAPI schema (schemathesis): no input may
cause a 5xx (odd times, plates, sites, limits and windows)."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.integration


def test_investigation_endpoints_never_answer_5xx(inv_env) -> None:
    import httpx
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings

    spec = httpx.get(inv_env.url + "/api/v1/openapi.json").json()
    schema = schemathesis.openapi.from_dict(spec)
    failures: list[tuple[str, int, str]] = []
    calls = {"n": 0, "ops": 0}
    headers = {"Authorization": f"Bearer {inv_env.token}"}

    def make_run(op: Any) -> Any:
        @settings(
            max_examples=12,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        @given(case=op.as_strategy())
        def run(case: Any) -> None:
            resp = case.call(base_url=inv_env.url, headers=headers, timeout=60)
            calls["n"] += 1
            if resp.status_code >= 500:
                failures.append((op.path, resp.status_code, resp.text[:300]))

        return run

    for result in schema.get_all_operations():
        op = result.ok()
        if op.path.startswith("/api/v1/investigations/"):
            calls["ops"] += 1
            make_run(op)()
    assert calls["ops"] == 6 and calls["n"] >= 6 * 6, calls
    assert failures == [], failures
