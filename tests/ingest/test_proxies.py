"""Ingest behind a reverse proxy: the device's address (login throttle, device status, dead
letters) is the forwarded client only when the proxy is one of PLATESTREAM_INGEST_TRUSTED_PROXIES."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from services.ingest.app import create_app
from services.ingest.device_registry import DeviceActivity
from services.ingest.loginthrottle import MAX_FAILURES
from services.ingest.processor import ingest_context
from services.ingest.settings import IngestSettings

from .helpers import ingest_settings
from .payloads import generic_json

PROXY = ("10.1.2.3", 40000)  # the peer every request comes from: a load balancer


def _serve(settings: Any, trusted: list[str]):
    return ingest_context(ingest_settings(settings, ingest_trusted_proxies=trusted))


def _bad_logins(client: TestClient, forwarded_for: str, n: int) -> list[int]:
    headers = {"x-api-key": "wrong-key", "x-forwarded-for": forwarded_for}
    return [
        client.post("/push/generic", json=generic_json(), headers=headers).status_code
        for _ in range(n)
    ]


def test_setting_is_validated() -> None:
    assert IngestSettings().ingest_trusted_proxies == []
    with pytest.raises(ValidationError, match="ingest_trusted_proxies"):
        IngestSettings(ingest_trusted_proxies=["proxy.local"])


@pytest.mark.integration
def test_trusted_proxy_forwards_the_device_address(settings: Any) -> None:
    context = _serve(settings, ["10.0.0.0/8"])
    with context as ctx:
        ctx.device_activity = DeviceActivity()
        with TestClient(create_app(ctx), client=PROXY) as client:
            r = client.post(
                "/push/generic",
                json=generic_json(),
                headers={"x-api-key": "edge-secret-1", "forwarded": "for=198.51.100.7"},
            )
            assert r.status_code == 200, r.text
            [status] = [d for d in ctx.device_activity.snapshot() if d["device_id"] == "edge-1"]
            assert status["remote_addr"] == "198.51.100.7"
            # failed logins are throttled per real client: one guesser does not lock out another
            assert _bad_logins(client, "198.51.100.8", MAX_FAILURES + 1)[-1] == 429
            assert _bad_logins(client, "198.51.100.9", 1) == [401]


@pytest.mark.integration
def test_untrusted_proxy_headers_are_ignored(settings: Any) -> None:
    context = _serve(settings, ["192.168.0.0/16"])  # the peer 10.1.2.3 is not in it
    with context as ctx:
        ctx.device_activity = DeviceActivity()
        with TestClient(create_app(ctx), client=PROXY) as client:
            r = client.post(
                "/push/generic",
                json=generic_json(),
                headers={"x-api-key": "edge-secret-1", "x-forwarded-for": "198.51.100.7"},
            )
            assert r.status_code == 200, r.text
            [status] = [d for d in ctx.device_activity.snapshot() if d["device_id"] == "edge-1"]
            assert status["remote_addr"] == "10.1.2.3"
            # a forged header cannot dodge the throttle: every guess counts against the peer
            assert _bad_logins(client, "198.51.100.8", MAX_FAILURES + 1)[-1] == 429
            assert _bad_logins(client, "198.51.100.9", 1) == [429]
