"""One seeded environment for the investigation tests: the town's passages and an anomaly,
stored by the real sink, and the API served over HTTP."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from platestream import topics as catalogue
from platestream.kafka import create_topics
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms
from tests.api.helpers import TEST_PURPOSE

from . import dataset


@dataclass
class InvEnv:
    settings: Any
    base: int  # a UTC midnight, 20 days ago
    clickhouse: Any
    url: str
    http: httpx.Client
    token: str

    def get(
        self, path: str, *, purpose: str | None = TEST_PURPOSE, **params: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        if purpose:  # answers that name plates need a stated purpose (issue 17)
            headers["X-Purpose"] = purpose
        return self.http.get(path, params=params, headers=headers)


@pytest.fixture(scope="package")
def inv_env(stack: CommonSettings) -> Iterator[InvEnv]:
    from platestream.clickhouse import make_clickhouse
    from services.api.main import create_app
    from services.api.settings import ApiSettings
    from tests.api.helpers import (
        PASSWORD,
        ApiServer,
        cleanup,
        isolated,
        migrate,
        produce,
        sink_running,
        wait_until,
    )

    s = isolated(stack)
    create_topics(s)
    migrate(s)
    today = datetime.fromtimestamp(now_ms() / 1000, tz=UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    base = int(today.timestamp() * 1000) - 20 * dataset.DAY
    events = dataset.events(base)
    secrets = Path(tempfile.mkdtemp(prefix="platestream-inv-secrets-"))
    try:
        with sink_running(s):
            produce(s, catalogue.PLATE_EVENTS, "plate_event", events)
            produce(s, catalogue.ANOMALIES, "plate_anomaly", [dataset.anomaly(base)])
            ch = make_clickhouse(s, autogenerate_session_id=False)
            wait_until(
                lambda: (
                    ch.command("SELECT count() FROM plate_events") == len(events)
                    and ch.command("SELECT count() FROM anomalies") == 1
                ),
                90,
                "the sink's rows",
            )
            for view in ("od_hourly_refresh", "travel_times_refresh"):  # migration 009
                ch.command(f"SYSTEM REFRESH VIEW `{s.clickhouse_database}`.`{view}`")
                ch.command(f"SYSTEM WAIT VIEW `{s.clickhouse_database}`.`{view}`")
        api = ApiSettings(
            **{
                **s.model_dump(),
                "api_secrets_dir": secrets,
                "api_rate_per_s": 500.0,
                "api_rate_burst": 2000,
            }
        )
        app = create_app(api)
        with ApiServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            app.state.ps.accounts.create_user("analyst", "analyst", PASSWORD, actor="test")
            resp = http.post(
                "/api/v1/auth/token", data={"username": "analyst", "password": PASSWORD}
            )
            assert resp.status_code == 200, resp.text
            yield InvEnv(api, base, ch, server.url, http, resp.json()["access_token"])
    finally:
        cleanup(s)
        shutil.rmtree(secrets, ignore_errors=True)
