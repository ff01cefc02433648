"""Test environment of the API: an isolated namespace on the live stack, seeded through the real sink.

Plate events, reads and alerts are produced to the topics and the sink (services/sink) runs
in-process until ClickHouse holds the rows and the bucket the crops; then the API runs under
uvicorn on a free port, so tests talk HTTP and WebSocket to it like any client. Tests produce
to a topic and read one back (``read_topic``, ``audit_records``) with the helpers here.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import TopicPartition

from platestream import topics as catalogue
from platestream.kafka import create_topics, make_admin, make_consumer, make_producer
from platestream.s3 import ensure_bucket, make_s3
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.stack.ports import free_port
from platestream.timeutil import now_ms

from .seed import Seed, build_seed

ROLES = ("admin", "operator", "analyst", "viewer", "device")
PASSWORD = "correct-horse-battery"
TEST_PURPOSE = "investigation"
# For browser.wait_for: once the console has loaded the purposes, choose the tests' one.
CHOOSE_PURPOSE_JS = (
    "(() => { const s = document.querySelector('#q-purpose');"
    " if (!s || !s.dataset.ready) return false;"
    f" s.value = '{TEST_PURPOSE}'; s.dispatchEvent(new Event('change'));"
    f" return s.value === '{TEST_PURPOSE}'; }})()"
)


def produce(
    settings: CommonSettings,
    topic: catalogue.Topic,
    schema: str,
    records: list[dict[str, Any]],
    key_field: str = "camera_id",
) -> None:
    serde = AvroSerde(settings.schema_registry_url)
    producer = make_producer(settings)
    name = settings.topic(topic.name)
    for rec in records:
        producer.produce(
            name,
            key=str(rec[key_field]).encode(),
            value=serde.encode(schema, rec, subject=f"{name}-value"),
        )
    assert producer.flush(30) == 0


def read_topic(
    env: ApiEnv, topic: catalogue.Topic, timeout: float = 10.0
) -> list[tuple[bytes | None, dict[str, Any] | None]]:
    """Every record of a topic from the beginning: (key, decoded value or None for a tombstone)."""
    serde = AvroSerde()
    name = env.settings.topic(topic.name)
    consumer = make_consumer(
        env.settings, f"api-test-read-{time.monotonic_ns()}", **{"enable.partition.eof": True}
    )
    parts = consumer.list_topics(name, timeout=10).topics[name].partitions
    consumer.assign([TopicPartition(name, p, 0) for p in parts])
    out: list[tuple[bytes | None, dict[str, Any] | None]] = []
    eof: set[int] = set()
    deadline = time.monotonic() + timeout
    while len(eof) < len(parts) and time.monotonic() < deadline:
        msg = consumer.poll(0.2)
        if msg is None:
            continue
        if msg.error():
            eof.add(msg.partition())
            continue
        out.append((msg.key(), None if msg.value() is None else serde.decode(msg.value())))
    consumer.close()
    return out


def audit_records(env: ApiEnv) -> list[dict[str, Any]]:
    return [v for _k, v in read_topic(env, catalogue.AUDIT) if v is not None]


def wait_until(predicate: Any, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


class ApiServer:
    """The app under uvicorn in a thread, on a free port."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(
                app,
                host="127.0.0.1",
                port=self.port,
                log_config=None,
                access_log=False,
                lifespan="on",
                ws="websockets-sansio",
                proxy_headers=False,  # as `platestream api` runs it: the app decides whom to trust
            )
        )
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)

    def __enter__(self) -> ApiServer:
        self.thread.start()
        wait_until(lambda: self.server.started, 60, "uvicorn to start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


@dataclass
class ApiEnv:
    settings: Any  # ApiSettings
    url: str
    seed: Seed
    state: Any  # AppState
    tokens: dict[str, str]
    http: httpx.Client

    def headers(self, role: str) -> dict[str, str]:
        # Searches, exports, views and replays need a stated purpose (issue 17): tests state one.
        return {"Authorization": f"Bearer {self.tokens[role]}", "X-Purpose": TEST_PURPOSE}

    def get(
        self, path: str, role: str = "admin", headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        return self.http.get(path, headers={**self.headers(role), **(headers or {})}, **kw)

    def post(
        self, path: str, role: str = "admin", headers: dict[str, str] | None = None, **kw: Any
    ) -> httpx.Response:
        return self.http.post(path, headers={**self.headers(role), **(headers or {})}, **kw)


def isolated(stack: CommonSettings) -> CommonSettings:
    tag = f"api{uuid.uuid4().hex[:10]}"
    return stack.model_copy(
        update={"topic_prefix": f"{tag}.", "s3_bucket": tag, "clickhouse_database": tag}
    )


@contextlib.contextmanager
def sink_running(settings: CommonSettings) -> Iterator[None]:
    """The real sink (both projections) in this process until the block ends."""
    from services.sink.service import run
    from services.sink.settings import SinkSettings

    sink_settings = SinkSettings(
        **{**settings.model_dump(), "sink_metrics_port": 0, "sink_batch_ms": 100}
    )
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            run(sink_settings, stop, {"clickhouse", "s3"})
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target, name="sink-under-test", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(30)
    if errors:
        raise errors[0]


def migrate(settings: CommonSettings) -> None:
    from platestream.clickhouse import make_clickhouse
    from services.sink.migrations import migrate as run_migrations
    from services.sink.settings import SinkSettings

    client = make_clickhouse(settings, database="default", autogenerate_session_id=False)
    run_migrations(
        client, SinkSettings(**settings.model_dump()), database=settings.clickhouse_database
    )


def cleanup(settings: CommonSettings) -> None:
    from platestream.clickhouse import make_clickhouse

    with contextlib.suppress(Exception):
        make_clickhouse(settings, database="default").command(
            f"DROP DATABASE IF EXISTS `{settings.clickhouse_database}`"
        )
    with contextlib.suppress(Exception):
        admin = make_admin(settings)
        doomed = [
            n for n in admin.list_topics(timeout=5).topics if n.startswith(settings.topic_prefix)
        ]
        if doomed:
            for fut in admin.delete_topics(doomed, operation_timeout=5).values():
                fut.result(timeout=10)


@contextlib.contextmanager
def api_environment(stack: CommonSettings, **overrides: Any) -> Iterator[ApiEnv]:
    """Isolated topics/bucket/database, seeded data, sink running, API served; all torn down after."""
    from platestream.clickhouse import make_clickhouse
    from services.api.main import create_app
    from services.api.settings import ApiSettings

    base = isolated(stack)
    create_topics(base)
    ensure_bucket(make_s3(base), base.s3_bucket)
    migrate(base)
    seed = build_seed(now_ms() - 3_600_000)
    secrets_dir = Path(tempfile.mkdtemp(prefix="platestream-api-secrets-"))
    try:
        with sink_running(base):
            produce(base, catalogue.PLATE_EVENTS, "plate_event", seed.events)
            produce(base, catalogue.PLATE_READS, "plate_read", seed.reads)
            produce(base, catalogue.ALERTS, "bolo_alert", seed.alerts)
            ch = make_clickhouse(base, autogenerate_session_id=False)
            wait_until(
                lambda: (
                    ch.command("SELECT count() FROM plate_events") == len(seed.events)
                    # searches read the index, which its view fills after plate_events
                    and ch.command("SELECT count() FROM plate_event_index") == len(seed.events)
                    and ch.command("SELECT count() FROM alerts") == len(seed.alerts)
                    and ch.command("SELECT count() FROM plate_reads") == len(seed.reads)
                ),
                90,
                "the sink's rows",
            )
            s3 = make_s3(base)
            wait_until(
                lambda: (
                    sum(1 for _ in s3.list_objects(base.s3_bucket, prefix="crops/", recursive=True))
                    >= len(seed.events)
                ),
                90,
                "the sink's crops",
            )
            api_settings = ApiSettings(
                **{
                    **base.model_dump(),
                    "api_secrets_dir": secrets_dir,
                    "api_rate_per_s": 500.0,
                    "api_rate_burst": 2000,
                    "api_login_rate_per_s": 100.0,
                    "api_login_burst": 200,
                    **overrides,
                }
            )
            app = create_app(api_settings)
            state = app.state.ps
            with ApiServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
                for role in ROLES:
                    state.accounts.create_user(role, role, PASSWORD, actor="test")
                tokens = {}
                for role in ROLES:
                    resp = http.post(
                        "/api/v1/auth/token", data={"username": role, "password": PASSWORD}
                    )
                    assert resp.status_code == 200, resp.text
                    tokens[role] = resp.json()["access_token"]
                yield ApiEnv(api_settings, server.url, seed, state, tokens, http)
    finally:
        cleanup(base)
        shutil.rmtree(secrets_dir, ignore_errors=True)


def log_in(browser: Any, url: str, user: str) -> None:
    """Open the console at ``url`` in ``browser`` (tests/api/cdp.py) and sign in as ``user``."""
    browser.navigate(url + "/")
    sign_in(browser, user)


def sign_in(browser: Any, user: str) -> None:
    """Sign in as ``user`` on the console's login page, once it is shown (no page load)."""
    browser.wait_for("!!document.querySelector('#login-user')")
    browser.eval(f"""
        document.querySelector('#login-user').value = {user!r};
        document.querySelector('#login-pass').value = {PASSWORD!r};
        document.querySelector('#login-submit').click(); true""")
