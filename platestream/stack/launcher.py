"""Start, check and stop the local stack: tansu (Kafka API), SeaweedFS (S3) and the chDB endpoint.

Every server listens on 127.0.0.1 only, keeps its data under ``var_dir`` and is stopped by the PID
it was started with (SIGTERM, then SIGKILL after a timeout). Readiness is a protocol answer
(Kafka ApiVersions, S3 ListBuckets with the configured keys, ClickHouse /ping + SELECT 1), never
a fixed sleep. The command line and environment of each server: ``server_commands``.

    stack = LocalStack(settings)            # ports and credentials from settings
    stack.up()                              # idempotent; raises StackError with the log tail
    stack.stop("clickhouse"); stack.start("clickhouse")   # fault injection
    stack.down()
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from platestream.errors import StackError
from platestream.settings import CommonSettings
from platestream.stack import probes
from platestream.stack.ports import (
    Ports,
    bindable,
)
from platestream.stack.procs import death_signal, pid_alive, same_process, start_ticks
from platestream.stack.server_commands import BROKER_BUCKET, server_command

logger = logging.getLogger(__name__)

COMPONENTS = ("s3", "broker", "clickhouse")  # start order: the broker stores its log in S3


@dataclass
class ComponentStatus:
    name: str
    pid: int | None
    port: int
    healthy: bool
    detail: str

    @property
    def running(self) -> bool:
        return self.pid is not None


class LocalStack:
    """The local stack of one var directory. All methods are idempotent and safe to repeat."""

    def __init__(
        self,
        settings: CommonSettings,
        *,
        var_dir: Path | None = None,
        ephemeral: bool = False,
        start_timeout: float = 90.0,
        stop_timeout: float = 15.0,
        die_with_parent: bool = False,
    ):
        self.settings = settings
        self.var_dir = Path(var_dir or settings.var_dir).resolve()
        self.ephemeral = ephemeral
        self.ports = Ports.from_settings(settings)
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.run_dir = self.var_dir / "run"
        self.log_dir = self.var_dir / "log"
        # Test stacks: the kernel stops the servers if this process dies without cleaning up.
        self.die_with_parent = die_with_parent and sys.platform.startswith("linux")
        self._children: dict[str, subprocess.Popen[bytes]] = {}

    # -- public API ---------------------------------------------------------------------------
    def up(self) -> list[ComponentStatus]:
        """Start whatever is not running, wait until each answers; returns the status."""
        for name in COMPONENTS:  # refuse before starting anything, so no half-started stack is left
            if self._alive_pid(name) is None:
                self._refuse_busy_ports(name)
        for name in COMPONENTS:
            self.start(name)
        self._post_start()
        return self.status()

    def down(self) -> list[str]:
        """Stop every component this var dir started; returns the names that were running."""
        stopped = []
        for name in reversed(COMPONENTS):
            if self.stop(name):
                stopped.append(name)
        return stopped

    def status(self) -> list[ComponentStatus]:
        return [self.component_status(name) for name in COMPONENTS]

    def component_status(self, name: str) -> ComponentStatus:
        pid = self._alive_pid(name)
        port = self._main_port(name)
        ok, detail = self._probe(name)
        if pid is None and ok:
            detail = f"answers, but not started from {self.var_dir} ({probes.port_owner(port) or 'unknown owner'})"
        elif pid is None:
            detail = "not running"
        elif name == "broker" and ok and not self._engine_is_memory() and not self._probe("s3")[0]:
            ok, detail = False, "answers, but its storage (S3) is down: every produce fails"
        return ComponentStatus(name, pid, port, ok, detail)

    def healthy(self) -> bool:
        return all(self._probe(name)[0] for name in COMPONENTS)

    def start(self, name: str) -> None:
        """Start one component (no-op when ours is already running) and wait until it answers."""
        self._check_name(name)
        if self._alive_pid(name) is not None:
            self._wait_ready(name, None)
            return
        self._refuse_busy_ports(name)
        argv, env = server_command(name, self.settings, self.ports, self.var_dir, self.ephemeral)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log_path = self.log_path(name)
        logger.info("starting %s on 127.0.0.1:%s (log %s)", name, self._main_port(name), log_path)
        with open(log_path, "ab") as log:
            log.write(
                f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start: {' '.join(argv)}\n".encode()
            )
            log.flush()
            try:
                proc = subprocess.Popen(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    env=env,
                    cwd=self.var_dir,
                    start_new_session=True,
                    preexec_fn=death_signal() if self.die_with_parent else None,
                )
            except OSError as exc:
                raise StackError(f"cannot start {name} ({argv[0]}): {exc.strerror or exc}") from exc
        self._children[name] = proc
        self._write_pid(name, proc.pid)
        self._wait_ready(name, proc)

    def stop(self, name: str) -> bool:
        """Stop one component by its PID: SIGTERM, then SIGKILL after stop_timeout. True if it ran."""
        self._check_name(name)
        pid = self._alive_pid(name)
        if pid is None:
            self._pid_file(name).unlink(missing_ok=True)
            self._reap(name)
            return False
        logger.info("stopping %s (pid %s)", name, pid)
        self._signal_group(pid, signal.SIGTERM)
        if not self._wait_gone(pid, self.stop_timeout):
            logger.warning(
                "%s (pid %s) ignored SIGTERM for %.0fs: SIGKILL", name, pid, self.stop_timeout
            )
            self._signal_group(pid, signal.SIGKILL)
            self._wait_gone(pid, 5.0)
        self._reap(name)
        self._pid_file(name).unlink(missing_ok=True)
        self._wait_ports_free(name, 10.0)
        return True

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_path(name)
        if not path.exists():
            return "(no log yet)"
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            fh.seek(max(0, fh.tell() - 64 * 1024))
            text = fh.read().decode(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _probe(self, name: str) -> tuple[bool, str]:
        s = self.settings
        if name == "broker":
            ok = probes.kafka_api_versions("127.0.0.1", self.ports.broker)
            return ok, ("ok" if ok else "no ApiVersions answer") + (
                " (memory engine)" if self._engine_is_memory() else ""
            )
        if name == "s3":
            return probes.s3_ready(
                f"http://127.0.0.1:{self.ports.s3}", s.s3_access_key, s.s3_secret_key, s.s3_region
            )
        return probes.clickhouse_ping(
            f"http://127.0.0.1:{self.ports.clickhouse}", s.clickhouse_user, s.clickhouse_password
        )

    def _engine_is_memory(self) -> bool:
        pid = self._alive_pid("broker")
        if pid is None:
            return self.ephemeral
        try:
            return "memory://tansu/" in psutil.Process(pid).cmdline()
        except psutil.Error:
            return self.ephemeral

    def _post_start(self) -> None:
        """Objects the stack itself needs: the broker's bucket, the app bucket and database."""
        from platestream.s3 import ensure_bucket, make_s3

        try:
            ensure_bucket(make_s3(self._local_settings()), self.settings.s3_bucket)
        except Exception as exc:
            raise StackError(
                f"S3 is up but bucket {self.settings.s3_bucket!r} cannot be created: {exc}"
            ) from exc

    def _local_settings(self) -> CommonSettings:
        return self.settings.model_copy(update={"s3_endpoint": f"http://127.0.0.1:{self.ports.s3}"})

    # -- waiting ----------------------------------------------------------------------------------
    def _wait_ready(self, name: str, proc: subprocess.Popen[bytes] | None) -> None:
        deadline = time.monotonic() + self.start_timeout
        detail = ""
        delay = 0.05
        bucket_done = False
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                self._pid_file(name).unlink(missing_ok=True)
                raise StackError(
                    f"{name} exited with status {proc.returncode} during start-up; last log lines "
                    f"({self.log_path(name)}):\n{self.log_tail(name)}"
                )
            if name == "s3" and not bucket_done:
                ok, detail = self._probe(name)
                if ok and not self.ephemeral:
                    bucket_done = self._ensure_broker_bucket()
                    ok = bucket_done
            else:
                ok, detail = self._probe(name)
            if ok:
                logger.info("%s ready on 127.0.0.1:%s", name, self._main_port(name))
                return
            time.sleep(delay)  # poll interval between probes, not a readiness guess
            delay = min(delay * 1.5, 0.5)
        raise StackError(
            f"{name} did not become ready within {self.start_timeout:.0f}s ({detail}); last log lines "
            f"({self.log_path(name)}):\n{self.log_tail(name)}"
        )

    def _ensure_broker_bucket(self) -> bool:
        from platestream.s3 import ensure_bucket, make_s3

        try:
            ensure_bucket(make_s3(self._local_settings()), BROKER_BUCKET)
            return True
        except Exception as exc:  # S3 may answer ListBuckets before its filer takes writes
            logger.debug("broker bucket not created yet: %s", exc)
            return False

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not pid_alive(pid):
                return True
            self._reap_any()
            time.sleep(0.05)
        return not pid_alive(pid)

    def _wait_ports_free(self, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not probes.port_open("127.0.0.1", self._main_port(name), 0.2):
                return
            time.sleep(0.05)

    # -- pid files ----------------------------------------------------------------------------------
    def _pid_file(self, name: str) -> Path:
        return self.run_dir / f"{name}.pid"

    def _write_pid(self, name: str, pid: int) -> None:
        try:
            created = psutil.Process(pid).create_time()
        except psutil.Error:
            created = 0.0
        record = {"pid": pid, "created": created, "start_ticks": start_ticks(pid)}
        self._pid_file(name).write_text(json.dumps(record))

    def _alive_pid(self, name: str) -> int | None:
        """The PID from the pid file, if that very process (same start time) still runs."""
        path = self._pid_file(name)
        try:
            info = json.loads(path.read_text())
            pid = int(info["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                self._reap(name)
                return None
            if not same_process(pid, info):
                return None  # the PID was reused by another process
        except psutil.Error:
            return None
        return pid

    def _signal_group(self, pid: int, sig: signal.Signals) -> None:
        try:
            os.killpg(pid, sig)  # started with start_new_session: its group id is its pid
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _reap(self, name: str) -> None:
        proc = self._children.pop(name, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)

    def _reap_any(self) -> None:
        for proc in self._children.values():
            proc.poll()

    # -- checks -----------------------------------------------------------------------------------------
    def _refuse_busy_ports(self, name: str) -> None:
        for port in self.ports.of(name):
            if probes.port_open("127.0.0.1", port, 0.3) or not bindable(port):
                owner = probes.port_owner(port) or "another process"
                raise StackError(
                    f"cannot start {name}: port 127.0.0.1:{port} is already in use by {owner}. "
                    f"Stop that process, or point the settings at other ports "
                    f"(PLATESTREAM_KAFKA_BOOTSTRAP, PLATESTREAM_S3_ENDPOINT, PLATESTREAM_CLICKHOUSE_URL)."
                )

    def _main_port(self, name: str) -> int:
        return {
            "broker": self.ports.broker,
            "s3": self.ports.s3,
            "clickhouse": self.ports.clickhouse,
        }[name]

    @staticmethod
    def _check_name(name: str) -> None:
        if name not in COMPONENTS:
            raise StackError(f"unknown component {name!r}; choose one of {', '.join(COMPONENTS)}")
