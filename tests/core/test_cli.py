"""The `platestream` command as a user meets it: --version, exit statuses, one-line errors,
misspelled variables reported at start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from platestream.envcheck import known_names, unknown_variables

REPO = Path(__file__).resolve().parents[2]


def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_")}
    return subprocess.run(
        [sys.executable, "-m", "platestream.cli", *args],
        cwd=REPO,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version() -> None:
    from importlib.metadata import version

    out = _cli("--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"platestream {version('platestream')}"


def test_usage_error_exits_2_and_runtime_error_exits_1() -> None:
    assert _cli("no-such-command").returncode == 2
    assert _cli("topics", "list", "--no-such-option").returncode == 2
    bad_setting = _cli("detect", PLATESTREAM_DETECT_BATCH_SIZE="eight")
    assert bad_setting.returncode == 2
    assert bad_setting.stderr.strip().splitlines() == [
        "error: PLATESTREAM_DETECT_BATCH_SIZE: Input should be a valid integer, unable to parse "
        'string as an integer; expects an integer, got "eight"'
    ]
    assert _cli("stack", "logs", "no-such-component").returncode == 2
    # a runtime error: the Schema Registry does not answer
    runtime = _cli("schemas", "check", PLATESTREAM_SCHEMA_REGISTRY_URL="http://127.0.0.1:9")
    assert runtime.returncode == 1
    assert runtime.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "Traceback" not in runtime.stderr


def test_comma_separated_list_setting_starts_detect_settings() -> None:
    out = _cli("detect", "--help", PLATESTREAM_DETECT_FORMATS="BR")
    assert out.returncode == 0 and "Traceback" not in out.stderr


def test_misspelled_variable_is_reported_with_a_suggestion() -> None:
    out = _cli("topics", "list", PLATESTREAM_KAFKA_BOOTSTRAPS="broker:9092")
    assert out.returncode == 0
    assert (
        "PLATESTREAM_KAFKA_BOOTSTRAPS is not a platestream setting and is ignored; "
        "did you mean PLATESTREAM_KAFKA_BOOTSTRAP?"
    ) in out.stderr


def test_unknown_variables() -> None:
    env = {
        "PLATESTREAM_KAFKA_BOOTSTRAP": "a",  # a setting
        "PLATESTREAM_DETECT_FORMAT": "BR",  # misspelled
        "PLATESTREAM_TEST_KEEP": "1",  # test knob
        "PLATESTREAM_NEW_PASSWORD": "x",  # read by `users create`
        "PLATESTREAM_ZZZ": "1",  # nothing close
        "PATH": "/bin",
    }
    assert unknown_variables(env) == [
        ("PLATESTREAM_DETECT_FORMAT", "PLATESTREAM_DETECT_FORMATS"),
        ("PLATESTREAM_ZZZ", None),
    ]
    assert {"PLATESTREAM_LOG_JSON", "PLATESTREAM_API_PORT", "PLATESTREAM_NOTIFY_ROUTES"} <= (
        known_names()
    )


def test_bench_api_with_the_broker_down_prints_one_clear_error() -> None:
    out = _cli("bench", "api", PLATESTREAM_KAFKA_BOOTSTRAP="127.0.0.1:9")
    assert out.returncode == 1
    lines = (out.stdout + out.stderr).strip().splitlines()
    assert lines == [
        "error: cannot reach the Kafka broker at 127.0.0.1:9 within 10 s (start it with "
        "`platestream stack up`, or set PLATESTREAM_KAFKA_BOOTSTRAP)"
    ]
