"""The stage supervisor: restarts a stage that exits, and leaves none behind when it is killed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import psutil

from platestream.supervisor import ProcessSpec, Supervisor

# A stage that ignores SIGTERM, as a faust worker may.
STUBBORN = [
    sys.executable,
    "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)",
]


def _wait(predicate, timeout_s: float = 10.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_restarts_an_exited_stage_and_kills_one_that_ignores_sigterm(tmp_path: Path) -> None:
    stop = threading.Event()
    sup = Supervisor(
        specs=[ProcessSpec("stubborn", STUBBORN, {})],
        log_dir=tmp_path,
        stop=stop,
        max_backoff_s=0.1,
        death_signal=signal.SIGKILL,
    )
    sup.start_all()
    first = sup.running["stubborn"].proc.pid
    os.kill(first, signal.SIGKILL)
    assert _wait(lambda: (sup.check(), sup.running["stubborn"].proc.pid != first)[1])
    second = sup.running["stubborn"].proc.pid
    assert sup.restarts["stubborn"] == 1
    t0 = time.monotonic()
    sup.stop_all(timeout=1.0)
    assert _gone(second)
    assert time.monotonic() - t0 < 8


def test_stages_die_with_a_killed_supervisor(tmp_path: Path) -> None:
    """SIGKILL of the supervising process (a test run killed on timeout) leaves no stage."""
    pid_file = tmp_path / "child.pid"
    script = textwrap.dedent(
        f"""
        import signal, threading, time
        from pathlib import Path
        from platestream.supervisor import ProcessSpec, Supervisor
        sup = Supervisor(specs=[ProcessSpec("stubborn", {STUBBORN!r}, {{}})],
                         log_dir=Path({str(tmp_path)!r}), stop=threading.Event(),
                         death_signal=signal.SIGKILL)
        sup.start_all()
        Path({str(pid_file)!r}).write_text(str(sup.running["stubborn"].proc.pid))
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        assert _wait(lambda: pid_file.exists() and pid_file.read_text() != "", 30)
        child = int(pid_file.read_text())
        assert not _gone(child)
        parent.kill()
        parent.wait(10)
        assert _wait(lambda: _gone(child), 10), "the stage outlived its supervisor"
    finally:
        if parent.poll() is None:
            parent.kill()
        if pid_file.exists() and pid_file.read_text():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pid_file.read_text()), signal.SIGKILL)
