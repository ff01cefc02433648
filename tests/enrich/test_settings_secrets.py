"""The notifier refuses its development signing secret in production."""

from __future__ import annotations

import pytest

from platestream.errors import ConfigError
from platestream.settings import load
from services.enrich.settings import NotifySettings

PROD = {
    "PLATESTREAM_ENV": "production",
    "PLATESTREAM_S3_SECRET_KEY": "s3-real-secret",
    "PLATESTREAM_CLICKHOUSE_PASSWORD": "ch-real-secret",
    "PLATESTREAM_JWT_SECRET": "jwt-real-secret-0123456789abcdef",
}


def test_default_webhook_secret_refused_in_production(monkeypatch):
    for k, v in PROD.items():
        monkeypatch.setenv(k, v)
    with pytest.raises(ConfigError, match="PLATESTREAM_NOTIFY_WEBHOOK_SECRET"):
        load(NotifySettings)
    monkeypatch.setenv("PLATESTREAM_NOTIFY_WEBHOOK_SECRET", "a-real-signing-secret")
    assert load(NotifySettings).notify_webhook_secret == "a-real-signing-secret"
