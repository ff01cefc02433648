"""Runs stages of the pipeline as supervised subprocesses in an isolated namespace on a live stack.

A run gets its own topic prefix, ClickHouse database and bucket, and its own consumer group ids
and ports, so it neither sees nor disturbs a `platestream up` running on the same stack. The
stages are the real `platestream <stage>` commands, started and restarted by the Supervisor.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platestream.errors import StackError
from platestream.settings import CommonSettings
from platestream.supervisor import STAGES, ProcessSpec, Supervisor

logger = logging.getLogger(__name__)

# Stages name their consumer groups "<topic prefix><group id>" themselves, so a run's groups are
# its own as soon as the prefix is; these are the default group ids (see group_id()).
GROUPS: dict[str, list[str]] = {
    "detect": ["platestream-detect"],
    "enrich": ["platestream-enrich"],
    "sink": ["platestream-sink-clickhouse", "platestream-sink-s3"],
    "notify": ["platestream-notify"],
    "health": ["platestream-health"],
}
# Metrics/web ports of the stages: 0 (off or ephemeral) so parallel runs do not collide.
PORT_VARS = (
    "PLATESTREAM_DETECT_METRICS_PORT",
    "PLATESTREAM_ENRICH_METRICS_PORT",
    "PLATESTREAM_SINK_METRICS_PORT",
    "PLATESTREAM_NOTIFY_WEB_PORT",
    "PLATESTREAM_NOTIFY_METRICS_PORT",
    "PLATESTREAM_ANOMALY_METRICS_PORT",
    "PLATESTREAM_HEALTH_WEB_PORT",
    "PLATESTREAM_HEALTH_METRICS_PORT",
    "PLATESTREAM_INGEST_CAMERAS_METRICS_PORT",
)


STAGE_MODULES = {
    "ingest": "services.ingest.cli",
    "detect": "services.detect.cli",
    "enrich": "services.enrich.cli",
    "sink": "services.sink.cli",
    "notify": "services.enrich.notify_cli",
    "health": "services.enrich.health_cli",
}


def available_stages(
    wanted: tuple[str, ...] = ("ingest", "enrich", "sink", "notify"),
) -> tuple[str, ...]:
    """The wanted stages whose command exists in this checkout (a stage still being built is left out)."""
    import importlib

    out = []
    for name in wanted:
        try:
            module = importlib.import_module(STAGE_MODULES[name])
        except ModuleNotFoundError:
            continue
        if getattr(module, "app", None) is not None:
            out.append(name)
    return tuple(out)


def new_run_id(kind: str = "bench") -> str:
    return f"{kind}{time.strftime('%H%M%S')}{uuid.uuid4().hex[:4]}"


def isolated(base: CommonSettings, run_id: str) -> CommonSettings:
    """The base settings with this run's own topic prefix, database and bucket."""
    return base.model_copy(
        update={
            "topic_prefix": f"{run_id}.",
            "clickhouse_database": f"{run_id}_db",
            "s3_bucket": f"{run_id}-img".lower(),
        }
    )


def group_id(settings: CommonSettings, default: str) -> str:
    return f"{settings.topic_prefix}{default}"


def settings_env(settings: CommonSettings) -> dict[str, str]:
    """Environment variables that make a stage process use exactly these common settings."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"PLATESTREAM_{name.upper()}"] = (
            str(value).lower() if isinstance(value, bool) else str(value)
        )
    return env


def stage_env(settings: CommonSettings, **extra: str) -> dict[str, str]:
    env = settings_env(settings)
    for var in PORT_VARS:
        env[var] = "0"
    env.update(extra)
    return env


def stack_reachable(settings: CommonSettings, timeout: float = 2.0) -> dict[str, bool]:
    """Which of the three servers answer on their configured addresses."""
    from urllib.parse import urlparse

    def tcp(host: str, port: int) -> bool:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                return True
        except OSError:
            return False

    host, _, port = settings.kafka_bootstrap.split(",")[0].rpartition(":")
    s3 = urlparse(settings.s3_endpoint)
    ch = urlparse(settings.clickhouse_url)
    return {
        "kafka": tcp(host or "127.0.0.1", int(port)),
        "s3": tcp(s3.hostname or "127.0.0.1", s3.port or 80),
        "clickhouse": tcp(ch.hostname or "127.0.0.1", ch.port or 8123),
    }


@contextmanager
def private_stack(base: CommonSettings, *, ephemeral: bool) -> Iterator[tuple[CommonSettings, Any]]:
    """A local stack of its own on free ports under a temp dir, stopped and removed after."""
    from platestream.stack import LocalStack, pick_free_ports

    broker, s3, clickhouse = pick_free_ports()
    var_dir = Path(tempfile.mkdtemp(prefix="platestream-bench-"))
    settings = base.model_copy(
        update={
            "kafka_bootstrap": f"127.0.0.1:{broker}",
            "s3_endpoint": f"http://127.0.0.1:{s3}",
            "clickhouse_url": f"http://127.0.0.1:{clickhouse}",
            "var_dir": var_dir,
        }
    )
    # die_with_parent: a run killed from outside (a test timeout's os._exit, kill -9) must not
    # leave its broker, S3 store and ClickHouse endpoint running
    stack = LocalStack(settings, var_dir=var_dir, ephemeral=ephemeral, die_with_parent=True)
    try:
        stack.up()
        yield settings, stack
    finally:
        stack.down()
        shutil.rmtree(var_dir, ignore_errors=True)


@contextmanager
def live_stack(
    settings: CommonSettings, *, ephemeral: bool = True
) -> Iterator[tuple[CommonSettings, Any]]:
    """Use the stack that answers at ``settings``; else start a private one (stopped after)."""
    up = stack_reachable(settings)
    if all(up.values()):
        yield settings, None
        return
    if any(up.values()):
        raise StackError(f"the local stack is half up ({up}); run `platestream stack status`")
    with private_stack(settings, ephemeral=ephemeral) as pair:
        yield pair


@contextmanager
def choose_stack(base: CommonSettings, kind: str) -> Iterator[tuple[CommonSettings, Any]]:
    """``auto``: the running stack, else a private memory-engine one; ``memory``/``s3``: a private one."""
    if kind not in ("auto", "memory", "s3"):
        raise StackError(f"unknown stack kind {kind!r}: auto, memory or s3")
    if kind == "auto":
        with live_stack(base, ephemeral=True) as pair:
            yield pair
    else:
        with private_stack(base, ephemeral=kind == "memory") as pair:
            yield pair


def stack_pids(settings: CommonSettings) -> dict[str, int]:
    """PIDs of the broker, S3 store and ClickHouse endpoint, found by the ports they listen on."""
    import psutil

    from platestream.stack import Ports

    try:
        ports = Ports.from_settings(settings)
    except StackError:
        return {}
    wanted = {ports.broker: "broker", ports.s3: "s3 store", ports.clickhouse: "clickhouse"}
    out: dict[str, int] = {}
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if (
                conn.status == psutil.CONN_LISTEN
                and conn.laddr
                and conn.laddr.port in wanted
                and conn.pid
            ):
                out[wanted[conn.laddr.port]] = conn.pid
    except psutil.Error as exc:
        logger.debug("cannot list listeners: %s", exc)
    return out


def prepare_namespace(settings: CommonSettings) -> None:
    """Topics, bucket and migrated database of one run."""
    from platestream.kafka import create_topics
    from platestream.s3 import ensure_bucket, make_s3

    create_topics(settings)
    ensure_bucket(make_s3(settings), settings.s3_bucket)
    from platestream.clickhouse import make_clickhouse
    from services.sink.migrations import migrate  # the sink owns the schema
    from services.sink.settings import SinkSettings

    sink_settings = SinkSettings(**settings.model_dump())
    migrate(make_clickhouse(settings, database=""), sink_settings)


def drop_namespace(settings: CommonSettings) -> None:
    """Remove what a run created: topics, database, bucket (best effort, bounded)."""
    from platestream import topics as catalogue
    from platestream.clickhouse import make_clickhouse
    from platestream.kafka import make_admin
    from platestream.s3 import make_s3

    try:
        admin = make_admin(settings)
        names = [settings.topic(t.name) for t in catalogue.ALL]
        existing = set(admin.list_topics(timeout=10).topics)
        gone = [n for n in names if n in existing]
        if gone:
            for fut in admin.delete_topics(gone, operation_timeout=30).values():
                try:
                    fut.result(30)
                except Exception as exc:
                    logger.debug("topic delete: %s", exc)
    except Exception as exc:
        logger.warning("could not delete the run's topics: %s", exc)
    try:
        make_clickhouse(settings, database="").command(
            f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`"
        )
    except Exception as exc:
        logger.warning("could not drop database %s: %s", settings.clickhouse_database, exc)
    try:
        s3 = make_s3(settings)
        from minio.deleteobjects import DeleteObject

        objs = (
            DeleteObject(o.object_name) for o in s3.list_objects(settings.s3_bucket, recursive=True)
        )
        for err in s3.remove_objects(settings.s3_bucket, objs):
            logger.debug("delete: %s", err)
        s3.remove_bucket(settings.s3_bucket)
    except Exception as exc:
        logger.warning("could not remove bucket %s: %s", settings.s3_bucket, exc)


@dataclass
class Stages:
    """The stage processes of one run under a Supervisor, watched from a background thread."""

    settings: CommonSettings
    names: list[str]
    log_dir: Path
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)  # stage -> env
    tick_s: float = 0.5

    def __post_init__(self) -> None:
        exe = [sys.executable, "-m", "platestream.cli"]
        base = stage_env(self.settings)
        specs = [
            ProcessSpec(name, exe + STAGES[name], {**base, **self.extra_env.get(name, {})})
            for name in self.names
        ]
        self.stop_event = threading.Event()
        self.supervisor = Supervisor(
            specs=specs,
            log_dir=self.log_dir,
            stop=self.stop_event,
            max_backoff_s=2.0,
            # A test or benchmark killed outright must not leave stages running (faust workers
            # may ignore SIGTERM, hence SIGKILL).
            death_signal=signal.SIGKILL,
        )
        self._thread: threading.Thread | None = None

    def start(self) -> Stages:
        self.supervisor.start_all()

        def watch() -> None:
            while not self.stop_event.wait(self.tick_s):
                self.supervisor.check()

        self._thread = threading.Thread(target=watch, name="supervisor", daemon=True)
        self._thread.start()
        return self

    def pids(self) -> dict[str, int]:
        return {name: run.proc.pid for name, run in self.supervisor.running.items()}

    def alive(self) -> dict[str, bool]:
        return self.supervisor.alive()

    def kill9(self, name: str) -> int:
        """SIGKILL a stage's whole process group; the Supervisor restarts it. Returns the old pid."""
        run = self.supervisor.running[name]
        pid = run.proc.pid
        with suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        return pid

    def wait_restarted(self, name: str, old_pid: int, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.supervisor.running[name]
            if run.proc.pid != old_pid and run.proc.poll() is None:
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout: float = 15.0) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(5)
        self.supervisor.stop_all(timeout)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> Stages:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def wait_http(url: str, timeout_s: float = 60.0, ok: tuple[int, ...] = (200, 401, 404)) -> bool:
    """Wait until ``url`` answers with one of ``ok`` (readiness of a stage's HTTP server)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1.0).status_code in ok:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def run_cli(
    args: list[str], env: dict[str, str], timeout_s: float = 120.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "platestream.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
