"""The local ClickHouse runs its background merges at a lower CPU priority than its inserts and
queries (``clickhouse_merge_nice``, ClickHouse's ``os_threads_nice_value_merge_mutate``): on a
small machine the merges of many small parts otherwise compete with the pipeline on equal terms
(docs/benchmarks.md, "Merges behind inserts")."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from platestream.settings import PROJECT_ROOT, CommonSettings
from platestream.stack.ports import Ports
from platestream.stack.server_commands import server_command

pytestmark = pytest.mark.integration

# Inserts parts into one table in a thread while the main thread samples the nice value of every
# thread named MergeMutate* (ClickHouse's merge pool) in this process.
_SAMPLER = textwrap.dedent(
    """
    import collections, os, sys, threading, time
    from pathlib import Path
    from platestream.stack import chengine
    from platestream.stack import httpcodec as hc

    engine = chengine.Engine(Path(sys.argv[1]), 1, merge_nice=int(sys.argv[2]))
    req = hc.Request(query="", database="default", default_format="TSV")
    engine.query(req, "CREATE TABLE t (a UInt64, s String) ENGINE = MergeTree ORDER BY a", "TSV")
    stop = threading.Event()

    def insert():
        i = 0
        while not stop.is_set():
            engine.query(req, f"INSERT INTO t SELECT number + {i} * 100000, toString(number) "
                         "FROM numbers(100000)", "TSV")
            i += 1

    worker = threading.Thread(target=insert)
    worker.start()
    seen = collections.Counter()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for tid in os.listdir("/proc/self/task"):
            try:
                if open(f"/proc/self/task/{tid}/comm").read().startswith("MergeMutate"):
                    seen[os.getpriority(os.PRIO_PROCESS, int(tid))] += 1
            except OSError:
                pass
        time.sleep(0.01)
    stop.set()
    worker.join()
    engine.close()
    print(dict(seen))
    """
)


def _merge_nice_values(data_dir: Path, nice: int) -> dict[int, int]:
    """Samples of the merge threads' nice values while merges run, per value."""
    out = subprocess.run(
        [sys.executable, "-c", _SAMPLER, str(data_dir), str(nice)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
        check=True,
    )
    return ast.literal_eval(out.stdout.strip().splitlines()[-1])


def test_merges_run_at_the_nice_value_asked_and_at_the_queries_one_without(
    tmp_path: Path,
) -> None:
    niced = _merge_nice_values(tmp_path / "niced", 7)
    assert niced.get(7, 0) > 0, niced  # a merge ran at nice 7
    plain = _merge_nice_values(tmp_path / "plain", 0)
    assert sum(plain.values()) > 0 and set(plain) == {0}, plain


def test_the_local_endpoint_gets_the_setting(settings: CommonSettings) -> None:
    argv, _env = server_command(
        "clickhouse",
        settings.model_copy(update={"clickhouse_merge_nice": 12}),
        Ports(broker=1, s3=2, clickhouse=3),
        Path("/nonexistent"),
        ephemeral=True,
    )
    assert argv[argv.index("--merge-nice") + 1] == "12"
    # the test stack's endpoint was started with the default
    r = httpx.post(
        settings.clickhouse_url,
        auth=(settings.clickhouse_user, settings.clickhouse_password),
        content=b"SELECT value FROM system.server_settings "
        b"WHERE name = 'os_threads_nice_value_merge_mutate'",
        timeout=30,
    )
    assert r.status_code == 200, r.text
    assert r.text.strip() == str(settings.clickhouse_merge_nice)
