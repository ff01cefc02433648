"""The test harness itself: the session stack answers and `settings` isolates each test."""

from __future__ import annotations

import pytest

from platestream import topics as catalogue
from platestream.kafka import make_admin
from platestream.s3 import make_s3
from platestream.stack.probes import clickhouse_http

pytestmark = pytest.mark.integration


def test_settings_are_isolated_and_provisioned(settings, stack) -> None:
    assert settings.topic_prefix.startswith("t") and settings.topic_prefix.endswith(".")
    assert settings.topic_prefix != stack.topic_prefix
    assert settings.s3_bucket not in (stack.s3_bucket, "")
    names = set(make_admin(settings).list_topics(timeout=10).topics)
    for topic in catalogue.ALL:
        assert settings.topic(topic.name) in names
    assert make_s3(settings).bucket_exists(settings.s3_bucket)
    dbs = clickhouse_http(
        settings.clickhouse_url,
        settings.clickhouse_user,
        settings.clickhouse_password,
        "SHOW DATABASES",
    ).split()
    assert settings.clickhouse_database in dbs
