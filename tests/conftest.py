"""Test harness: a live stack for the session, and per-test isolated settings.

`stack` (session): settings for a live stack, chosen in this order
  1. PLATESTREAM_TEST_BACKEND=containers and a Docker engine answers: real Apache Kafka,
     ClickHouse and MinIO started with testcontainers (otherwise it says it fell back);
  2. PLATESTREAM_TEST_EXISTING=1: the deployment named by the usual PLATESTREAM_* variables;
  3. a local stack already healthy on the configured/default ports (`platestream stack up`);
  4. else an ephemeral local stack (memory broker) on free ports under a temp dir, started once
     and stopped by PID at the end of the session (under pytest-xdist, as `make test` runs it,
     once per worker: each worker has a stack of its own).
`settings` (function): the same, isolated for one test: unique topic prefix, bucket and
database, all created; dropped afterwards (set PLATESTREAM_TEST_KEEP=1 to keep them).
"""

from __future__ import annotations

import atexit
import importlib.util
import logging
import os
import shutil
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from platestream.settings import CommonSettings

# Clients that outlive a test keep reconnecting to the stopped test stack until the interpreter
# exits; at librdkafka's default level that floods the end of the run. Critical messages only.
os.environ.setdefault("PLATESTREAM_KAFKA_LOG_LEVEL", "2")

logger = logging.getLogger("platestream.tests")

MARKERS = {
    "integration": "needs the local stack (broker, S3, ClickHouse)",
    "slow": "long-running; excluded from make test",
    "broker_gap": "documents a gap of the local broker (tansu) that real Kafka does not have",
    "ml": "needs the optional ML packages (torch, ultralytics, easyocr)",
}


def pytest_configure(config: pytest.Config) -> None:
    registered = " ".join(config.getini("markers"))
    for name, doc in MARKERS.items():
        if f"{name}:" not in registered:
            config.addinivalue_line("markers", f"{name}: {doc}")


def _uses_local_stack() -> bool:
    return os.environ.get("PLATESTREAM_TEST_EXISTING") != "1" and (
        os.environ.get("PLATESTREAM_TEST_BACKEND", "local") != "containers"
    )


def missing_stack_binaries() -> list[str]:
    """What the local stack needs and this machine lacks (empty: all there)."""
    missing = []
    if importlib.util.find_spec("chdb") is None:
        missing.append("chdb (pip: chdb-core)")
    try:
        from platestream.stack.binaries import tansu_binary, weed_binary

        if not tansu_binary().is_file():
            missing.append(f"tansu ({tansu_binary()})")
        if not weed_binary().is_file():
            missing.append(f"weed ({weed_binary()})")
    except Exception as exc:  # the package itself may be missing
        missing.append(f"local stack launcher ({exc})")
    return missing


# The two end-to-end runs of every stage (the demo of `make run` with detection, the short fault
# suite): on one worker, one after the other. Side by side on a slow 2-core machine both starved
# (load average 9) and ran past their time limits in a fresh-clone `make test`.
END_TO_END = ("tests/core/test_make_run.py", "tests/chaos/test_faults.py")


def _worker_groups(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`make test`, `--dist loadgroup`) a worker takes a whole file, and the
    API tests' files all together and in order: they share one seeded API environment per
    session (tests/api/conftest.py), and some read what the files before them left in it, as
    in a run in one process. The `END_TO_END` files share a worker too."""
    if not config.pluginmanager.hasplugin("xdist"):
        return
    root = Path(str(config.rootpath))
    for item in items:
        path = Path(str(item.path))
        if path.is_relative_to(root):
            path = path.relative_to(root)
        group = "tests/api" if path.parts[:2] == ("tests", "api") else str(path)
        group = "end-to-end" if str(path) in END_TO_END else group
        item.add_marker(pytest.mark.xdist_group(name=group))


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _worker_groups(config, items)
    if not _uses_local_stack():
        return
    missing = missing_stack_binaries()
    if not missing:
        return
    skip = pytest.mark.skip(
        reason=f"local stack binaries missing: {', '.join(missing)} (run make install)"
    )
    for item in items:
        if item.get_closest_marker("integration"):
            item.add_marker(skip)


def _say(config: pytest.Config, text: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"[platestream stack] {text}")
    logger.warning("%s", text)


@pytest.fixture(autouse=True)
def _root_logging_put_back() -> Iterator[None]:
    """A test that calls platestream.logs.configure() leaves the root logger writing to that
    test's captured stderr, closed once the test ends; threads that outlive it (the API tests'
    session server) then print "Logging error" tracebacks into whichever test runs next. Each
    test's own handlers go when it ends (pytest's capture handlers come and go with each phase)."""
    root = logging.getLogger()
    level, before = root.level, set(root.handlers)
    yield
    for handler in list(root.handlers):
        if handler not in before and type(handler).__module__ != "_pytest.logging":
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture(scope="session")
def stack(request: pytest.FixtureRequest) -> Iterator[CommonSettings]:
    """Settings that point at a live stack (see the module docstring for how it is chosen)."""
    config = request.config
    base = CommonSettings(env="test")
    if os.environ.get("PLATESTREAM_TEST_BACKEND") == "containers":
        from platestream.stack.containers import containers_stack, docker_available

        if docker_available():
            _say(config, "backend: real Kafka, ClickHouse and MinIO in Docker (testcontainers)")
            with containers_stack(base) as settings:
                yield settings
            return
        text = "PLATESTREAM_TEST_BACKEND=containers but no Docker engine answers: fell back to the local stack"
        warnings.warn(text, stacklevel=1)
        _say(config, text)

    if os.environ.get("PLATESTREAM_TEST_EXISTING") == "1":
        _say(
            config,
            f"backend: existing deployment (kafka {base.kafka_bootstrap}, s3 {base.s3_endpoint}, "
            f"clickhouse {base.clickhouse_url})",
        )
        yield base
        return

    from platestream.errors import StackError
    from platestream.stack import LocalStack, pick_free_ports

    try:
        running = LocalStack(base).healthy()
    except Exception:
        running = False
    if running:
        _say(config, "backend: the local stack already running on the configured ports")
        yield base
        return

    var_dir = Path(tempfile.mkdtemp(prefix="platestream-stack-"))
    local: LocalStack | None = None

    def _teardown() -> None:
        if local is not None:
            local.down()
        shutil.rmtree(var_dir, ignore_errors=True)

    atexit.register(_teardown)  # a safety net if the session dies before the finaliser
    try:
        for attempt in range(3):  # another session may grab the same free ports in between
            broker, s3, clickhouse = pick_free_ports()
            settings = base.model_copy(
                update={
                    "kafka_bootstrap": f"127.0.0.1:{broker}",
                    "s3_endpoint": f"http://127.0.0.1:{s3}",
                    "clickhouse_url": f"http://127.0.0.1:{clickhouse}",
                    "var_dir": var_dir,
                }
            )
            local = LocalStack(settings, var_dir=var_dir, ephemeral=True, die_with_parent=True)
            try:
                local.up()
                break
            except StackError as exc:
                local.down()
                if "already in use" not in str(exc) or attempt == 2:
                    raise
        _say(
            config,
            f"backend: ephemeral local stack under {var_dir} "
            f"(broker {broker}, s3 {s3}, clickhouse {clickhouse})",
        )
        yield settings
    finally:
        _teardown()
        atexit.unregister(_teardown)


def clickhouse_command(settings: CommonSettings, sql: str, timeout: float = 30.0) -> str:
    """One statement over the ClickHouse HTTP interface (works on chDB and on a real server)."""
    from platestream.stack.probes import clickhouse_http

    return clickhouse_http(
        settings.clickhouse_url,
        settings.clickhouse_user,
        settings.clickhouse_password,
        sql,
        timeout,
    )


def isolated(stack_settings: CommonSettings, tag: str | None = None) -> CommonSettings:
    """Settings for one test: unique topic prefix, bucket and database (nothing created yet)."""
    tag = tag or f"t{uuid.uuid4().hex[:12]}"
    return stack_settings.model_copy(
        update={"topic_prefix": f"{tag}.", "s3_bucket": tag, "clickhouse_database": tag}
    )


@pytest.fixture
def settings(stack: CommonSettings) -> Iterator[CommonSettings]:
    """Settings isolated for one test; the catalogue's topics, the bucket and the database exist."""
    from platestream.kafka import create_topics
    from platestream.s3 import ensure_bucket, make_s3

    s = isolated(stack)
    create_topics(s)
    s3 = make_s3(s)
    ensure_bucket(s3, s.s3_bucket)
    clickhouse_command(s, f"CREATE DATABASE IF NOT EXISTS `{s.clickhouse_database}`")
    yield s
    if os.environ.get("PLATESTREAM_TEST_KEEP") == "1":
        return
    _cleanup(s, s3)


def _cleanup(s: CommonSettings, s3: object) -> None:
    """Drop what is cheap to drop; a failure here never fails the test."""
    from minio.deleteobjects import DeleteObject

    from platestream import topics as catalogue
    from platestream.kafka import make_admin

    try:
        clickhouse_command(s, f"DROP DATABASE IF EXISTS `{s.clickhouse_database}`", timeout=10)
    except Exception as exc:
        logger.info("cleanup: database %s not dropped: %s", s.clickhouse_database, exc)
    try:
        names = [DeleteObject(o.object_name) for o in s3.list_objects(s.s3_bucket, recursive=True)]  # type: ignore[attr-defined]
        if len(names) <= 20_000:
            for err in s3.remove_objects(s.s3_bucket, names):  # type: ignore[attr-defined]
                logger.info("cleanup: %s", err)
            s3.remove_bucket(s.s3_bucket)  # type: ignore[attr-defined]
    except Exception as exc:
        logger.info("cleanup: bucket %s not removed: %s", s.s3_bucket, exc)
    try:
        admin = make_admin(s)
        existing = set(admin.list_topics(timeout=5).topics)
        doomed = [n for n in existing if n.startswith(s.topic_prefix)]
        if doomed:
            for fut in admin.delete_topics(doomed, operation_timeout=5).values():
                fut.result(timeout=10)
    except Exception as exc:
        logger.info("cleanup: topics %s* not deleted: %s", s.topic_prefix, exc)
    del catalogue
