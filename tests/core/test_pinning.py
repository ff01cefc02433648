"""`bench pipeline --cpus N`: which cores the pipeline and the load generator get, and pinning."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from platestream.bench import pinning


def test_split_gives_the_pipeline_n_cores_and_the_load_the_rest() -> None:
    assert pinning.split(1, {0, 1}) == ({0}, {1})
    assert pinning.split(2, {0, 1, 2, 3}) == ({0, 1}, {2, 3})
    assert pinning.split(2, {0, 1}) == ({0, 1}, {1})  # all cores asked: the load shares the last
    with pytest.raises(ValueError, match="only 2 cores"):
        pinning.split(3, {0, 1})
    with pytest.raises(ValueError):
        pinning.split(0, {0, 1})


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores to pin apart")
def test_every_thread_of_a_process_and_its_children_is_pinned() -> None:
    code = (
        "import subprocess, sys, threading, time\n"
        "threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(30)'])\n"
        "print(child.pid, flush=True); time.sleep(30)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        child = int(proc.stdout.readline())  # type: ignore[union-attr]
        core = min(os.sched_getaffinity(0))
        assert pinning.pin_process(proc.pid, {core}) >= 3  # main thread, the sleeper, the child
        tids = os.listdir(f"/proc/{proc.pid}/task")
        assert len(tids) >= 2
        assert all(os.sched_getaffinity(int(t)) == {core} for t in tids)
        assert pinning.affinity(child) == {core}
    finally:
        for p in __import__("psutil").Process(proc.pid).children(recursive=True):
            p.kill()
        proc.kill()
        proc.wait()
