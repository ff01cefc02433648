"""Process helpers of the local stack and the supervisor: parent-death signal, liveness, polling."""

from __future__ import annotations

import signal
import time
from collections.abc import Callable

import psutil

from platestream.errors import StackError


def death_signal(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None]:
    """A pre-exec hook: the child gets ``sig`` when its parent dies (Linux PR_SET_PDEATHSIG).

    "Parent" is the thread that started the child. libc is resolved here, in the parent: the
    hook itself only makes one C call after fork.
    """
    import ctypes

    prctl = ctypes.CDLL(None, use_errno=True).prctl
    pr_set_pdeathsig = 1
    number = int(sig)

    def hook() -> None:
        prctl(pr_set_pdeathsig, number)

    return hook


def pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def start_ticks(pid: int) -> int | None:
    """When ``pid`` started, in clock ticks since boot (``/proc/PID/stat`` field 22), or None.

    Unlike psutil's ``create_time()`` (boot time plus these ticks), it does not move when the
    system's idea of its boot time does: on virtual machines whose clock is stepped, the same
    process's ``create_time()`` was seen to drift by 9.5 s within an hour, and a PID file checked
    with it took the running stack for a reused PID.
    """
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            stat = f.read()
        return int(stat.rsplit(b")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def same_process(pid: int, info: dict[str, object]) -> bool:
    """Whether ``pid`` is still the process a PID file recorded (``start_ticks`` where the file
    and the system have them, else ``created`` within 30 s), not another that reused its PID."""
    ticks = info.get("start_ticks")
    if isinstance(ticks, int):
        now = start_ticks(pid)
        if now is not None:
            return now == ticks
    created = info.get("created")
    if not isinstance(created, int | float) or not created:
        return True
    try:
        return abs(psutil.Process(pid).create_time() - float(created)) <= 30.0
    except psutil.Error:
        return False


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll `check` until it is true; StackError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)
    raise StackError(f"timed out after {timeout:.0f}s waiting for {what}")
