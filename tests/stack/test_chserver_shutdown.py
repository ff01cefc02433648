"""The local ClickHouse endpoint while it stops: statements not yet started are refused with a
code clients retry (not one that reads as an error about the request's rows), and the sessions
are closed only once the running statements have given them back."""

from __future__ import annotations

import queue
import threading
import time

import pytest

from platestream.stack import chengine
from platestream.stack import httpcodec as hc
from services.sink.writer import is_transient


class FakeSession:
    def __init__(self) -> None:
        self.closed_at: float | None = None

    def query(self, req: object, sql: str, fmt: str) -> tuple[bytes, str]:
        time.sleep(0.3)  # a statement that takes a while
        if self.closed_at is not None:
            raise AttributeError("'NoneType' object has no attribute 'query'")
        return b"1\n", "{}"

    def close(self) -> None:
        self.closed_at = time.monotonic()


def engine(n: int = 2) -> chengine.Engine:
    eng = object.__new__(chengine.Engine)
    eng._sessions = [FakeSession() for _ in range(n)]  # type: ignore[list-item]
    eng._free = queue.Queue()
    for s in eng._sessions:
        eng._free.put(s)
    eng.closing = False
    return eng


def test_a_statement_after_the_stop_signal_is_refused_as_retryable() -> None:
    eng = engine()
    eng.closing = True
    with pytest.raises(hc.HttpError) as info:
        eng.query(None, "SELECT 1", "TSV")  # type: ignore[arg-type]
    assert info.value.code == chengine.SHUTTING_DOWN and info.value.status == 503
    # what a client makes of that answer: retry, not a refused row
    from clickhouse_connect.driver.exceptions import DatabaseError

    assert is_transient(DatabaseError(str(info.value)))


def test_close_waits_for_running_statements_before_closing_sessions() -> None:
    eng = engine(2)
    results: list[bytes] = []
    t = threading.Thread(target=lambda: results.append(eng.query(None, "SELECT 1", "TSV")[0]))  # type: ignore[arg-type]
    t.start()
    time.sleep(0.05)
    started = time.monotonic()
    eng.close()
    t.join(5)
    assert results == [b"1\n"]  # the running statement finished on an open session
    assert all(s.closed_at is not None and s.closed_at >= started for s in eng._sessions)  # type: ignore[attr-defined]
    assert time.monotonic() - started >= 0.2
