"""`platestream users`: accounts published as events reach a running API through its projection."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from .helpers import ApiEnv, wait_until

pytestmark = pytest.mark.integration


def cli(env: ApiEnv, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    s = env.settings
    environ = {
        **os.environ,
        "PLATESTREAM_KAFKA_BOOTSTRAP": s.kafka_bootstrap,
        "PLATESTREAM_TOPIC_PREFIX": s.topic_prefix,
        "PLATESTREAM_LOG_LEVEL": "WARNING",
    }
    environ.pop("PLATESTREAM_NEW_PASSWORD", None)
    if password:
        environ["PLATESTREAM_NEW_PASSWORD"] = password
    return subprocess.run(
        [sys.executable, "-m", "platestream.cli", "users", *args],
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def login(env: ApiEnv, user: str, password: str) -> int:
    return env.http.post(
        "/api/v1/auth/token", data={"username": user, "password": password}
    ).status_code


def test_users_cli_create_reset_delete_reach_the_running_api(api_env: ApiEnv) -> None:
    r = cli(api_env, "create", "ops-admin", "--role", "admin", password="bootstrap-pass-1")
    assert r.returncode == 0, r.stderr
    wait_until(
        lambda: login(api_env, "ops-admin", "bootstrap-pass-1") == 200,
        15,
        "the API to see the new user",
    )
    r = cli(api_env, "create", "ops-admin", "--role", "admin", password="bootstrap-pass-1")
    assert r.returncode != 0 and "exists" in r.stderr
    weak = cli(api_env, "create", "weak", "--role", "admin", password="short")
    assert weak.returncode != 0 and "at least 8" in weak.stderr
    listed = cli(api_env, "list")
    assert "ops-admin" in listed.stdout and "analyst" in listed.stdout
    assert cli(api_env, "reset-password", "ops-admin", password="recovered-pass-2").returncode == 0
    wait_until(
        lambda: login(api_env, "ops-admin", "recovered-pass-2") == 200, 15, "the new password"
    )
    assert login(api_env, "ops-admin", "bootstrap-pass-1") == 401
    assert cli(api_env, "delete", "ops-admin", "--yes").returncode == 0
    wait_until(lambda: login(api_env, "ops-admin", "recovered-pass-2") == 401, 15, "the deletion")
    assert cli(api_env, "delete", "ops-admin", "--yes").returncode != 0
