"""`bench pipeline --cpus N`: the stages and the stack on N cores, the load generator on the rest.

This emulates a smaller or slower machine on any machine: the pipeline gets N cores, and the load
(this process: producing, probing, sampling) does not take CPU from them. Every thread of a
process is pinned (Linux sets affinity per thread), and child processes inherit what their
parent had when they start: so this process pins itself to the stage cores before it starts the
stack and the stages, and moves itself to the other cores once they run.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import psutil

logger = logging.getLogger(__name__)


def split(n: int, available: set[int] | None = None) -> tuple[set[int], set[int]]:
    """(cores for the pipeline, cores for the load generator) out of this process's cores.
    With as many cores asked as there are, the load generator shares the last one."""
    cores = sorted(available if available is not None else os.sched_getaffinity(0))
    if n < 1:
        raise ValueError("--cpus must be at least 1")
    if n > len(cores):
        raise ValueError(f"--cpus {n}: only {len(cores)} cores available")
    stage = set(cores[:n])
    rest = set(cores[n:]) or {cores[-1]}
    return stage, rest


def pin_process(pid: int, cores: set[int], *, children: bool = True) -> int:
    """Pin every thread of ``pid`` (and of its descendants) to ``cores``; the threads pinned."""
    pinned = 0
    try:
        proc = psutil.Process(pid)
        procs = [proc, *(proc.children(recursive=True) if children else [])]
    except psutil.Error:
        return 0
    for proc in procs:
        try:
            tids = [int(t) for t in os.listdir(Path("/proc") / str(proc.pid) / "task")]
        except OSError:
            continue
        for tid in tids:
            try:
                os.sched_setaffinity(tid, cores)
                pinned += 1
            except OSError as exc:  # a thread that ended in the meantime
                logger.debug("cannot pin thread %d: %s", tid, exc)
    return pinned


def affinity(pid: int) -> set[int]:
    return set(os.sched_getaffinity(pid))
