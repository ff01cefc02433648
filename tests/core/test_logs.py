"""One log format for every stage: JSON lines with the stage, and the ids a line is about."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from platestream.logs import ContextFilter, Formatter, configure, log_context
from platestream.settings import CommonSettings

REPO = Path(__file__).resolve().parents[2]


def _line(record: logging.LogRecord) -> dict:
    ContextFilter().filter(record)
    return json.loads(Formatter().format(record))


def _record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord(
        "services.enrich.processor", logging.WARNING, __file__, 1, msg, args, None
    )
    rec.__dict__.update(extra)
    return rec


def test_json_line_has_the_fixed_fields_and_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("platestream.logs._stage", "enrich")
    with log_context(camera_id="cam-7", event_id="ev-1"):
        out = _line(_record("late read %s@%d", "anpr.plate-reads.v1[2]", 41))
    assert out["level"] == "WARNING" and out["logger"] == "services.enrich.processor"
    assert out["msg"] == "late read anpr.plate-reads.v1[2]@41"
    assert (out["stage"], out["camera_id"], out["event_id"]) == ("enrich", "cam-7", "ev-1")
    assert out["ts"].endswith("Z") and len(out["ts"]) == len("2026-01-01T00:00:00.000Z")
    # outside the block the context is gone; an explicit extra wins over the context
    assert "camera_id" not in _line(_record("x"))
    with log_context(camera_id="outer"):
        assert _line(_record("x", camera_id="inner"))["camera_id"] == "inner"


def test_exceptions_are_one_field() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        rec = _record("failed")
        rec.exc_info = sys.exc_info()
    out = _line(rec)
    assert "ValueError: boom" in out["exc"]


def test_text_format_when_json_is_off(capsys: pytest.CaptureFixture[str]) -> None:
    configure("INFO", json_logs=False, stage="sink")
    logging.getLogger("t").info("plain %s", "words")
    err = capsys.readouterr().err
    assert err.rstrip().endswith("INFO t: plain words") and not err.startswith("{")


def test_an_exception_nobody_caught_in_a_thread_is_a_json_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys
    import threading

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    configure("INFO", json_logs=True, stage="notify")

    def boom() -> None:
        raise RuntimeError("follower died")

    t = threading.Thread(target=boom, name="notify-routes")
    t.start()
    t.join()
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines  # one JSON line, not Python's bare traceback
    record = json.loads(lines[0])
    assert record["msg"] == "uncaught exception in thread notify-routes"
    assert "RuntimeError: follower died" in record["exc"] and record["stage"] == "notify"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


STAGES = {
    "ingest": ["ingest", "serve"],
    "detect": ["detect"],
    "enrich": ["enrich"],
    "notify": ["notify"],
    "health": ["health"],
    "sink": ["sink"],
    "api": ["api"],
}


@pytest.mark.integration
@pytest.mark.parametrize("stage", list(STAGES))
def test_every_stage_logs_json(stage: str, settings: CommonSettings, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_")}
    env |= {
        "PLATESTREAM_LOG_JSON": "true",
        "PLATESTREAM_KAFKA_LOG_LEVEL": "2",
        "PLATESTREAM_VAR_DIR": str(tmp_path),
        "PLATESTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PLATESTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "PLATESTREAM_S3_ENDPOINT": settings.s3_endpoint,
        "PLATESTREAM_S3_BUCKET": settings.s3_bucket,
        "PLATESTREAM_CLICKHOUSE_URL": settings.clickhouse_url,
        "PLATESTREAM_CLICKHOUSE_DATABASE": settings.clickhouse_database,
    }
    for port in (
        "API_PORT",
        "INGEST_PORT",
        "DETECT_METRICS_PORT",
        "ENRICH_METRICS_PORT",
        "SINK_METRICS_PORT",
        "NOTIFY_WEB_PORT",
        "NOTIFY_METRICS_PORT",
        "ANOMALY_METRICS_PORT",
        "HEALTH_WEB_PORT",
        "HEALTH_METRICS_PORT",
    ):
        env[f"PLATESTREAM_{port}"] = str(_free_port())
    log = tmp_path / "stderr.log"
    with log.open("w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "platestream.cli", *STAGES[stage]],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=fh,
        )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None and not log.read_text().strip():
            time.sleep(0.5)
        time.sleep(2.0)  # let the start finish: more lines, same format
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines, f"{stage} logged nothing"
    for line in lines:
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            pytest.fail(f"{stage}: not a JSON line: {line[:300]}")
        assert {"ts", "level", "logger", "msg"} <= set(record), line
        assert record["stage"] == stage, line
