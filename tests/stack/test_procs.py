"""Telling a PID file's process from another that reused its PID (no server)."""

from __future__ import annotations

import os
import subprocess
import sys

import psutil

from platestream.stack.procs import same_process, start_ticks


def test_start_ticks_identify_a_process_and_ignore_the_boot_time_clock() -> None:
    me = os.getpid()
    ticks = start_ticks(me)
    assert isinstance(ticks, int) and ticks > 0
    assert start_ticks(me) == ticks
    created = psutil.Process(me).create_time()
    # the boot time the system reports moved by 9.5 s (seen on a VM): still the same process
    assert same_process(me, {"pid": me, "created": created + 9.5, "start_ticks": ticks})
    # another process under this PID started at other ticks
    assert not same_process(me, {"pid": me, "created": created, "start_ticks": ticks - 1})


def test_a_child_has_its_own_start_and_a_gone_process_is_not_the_same() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        recorded = {"pid": child.pid, "created": 0.0, "start_ticks": start_ticks(child.pid)}
        assert recorded["start_ticks"] is not None
        assert same_process(child.pid, recorded)
    finally:
        child.kill()
        child.wait()
    assert start_ticks(child.pid) is None
    assert not same_process(
        child.pid, {"pid": child.pid, "created": 1.0, "start_ticks": recorded["start_ticks"]}
    )


def test_pid_files_written_before_start_ticks_fall_back_to_created_within_30_s() -> None:
    me = os.getpid()
    created = psutil.Process(me).create_time()
    assert same_process(me, {"pid": me, "created": created + 10})
    assert not same_process(me, {"pid": me, "created": created - 120})
    assert same_process(me, {"pid": me})  # nothing recorded to compare: trust the file
