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


def test_containers_backend_falls_back_here_and_says_so() -> None:
    """No Docker engine on this machine: the suite runs on the local stack and says why."""
    import os
    import subprocess
    import sys

    from platestream.settings import PROJECT_ROOT
    from platestream.stack.containers import docker_available

    if docker_available():
        pytest.skip("a Docker engine answers here: the containers backend would really start")
    env = {**os.environ, "PLATESTREAM_TEST_BACKEND": "containers"}
    env.pop("PLATESTREAM_TEST_EXISTING", None)
    test = "tests/stack/test_harness.py::test_settings_are_isolated_and_provisioned"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "-W", "default"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    assert "no Docker engine answers: fell back to the local stack" in run.stdout
    assert "1 passed" in run.stdout


def test_container_backend_module_imports() -> None:
    from testcontainers.community.kafka import KafkaContainer

    from platestream.stack import containers

    assert callable(containers.containers_stack)
    assert hasattr(KafkaContainer, "with_kraft")
