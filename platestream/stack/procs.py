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
