"""chDB sessions behind the local ClickHouse endpoint (platestream/stack/chserver.py).

A ``Session`` is one chDB connection with the database and settings a request asks for; the
``Engine`` is a pool of them on one data directory, lent to one statement at a time, so requests
run side by side. While the endpoint stops, the engine refuses new statements with a code that
clients retry and closes sessions only once the running statements have given them back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from platestream.stack import httpcodec as hc

logger = logging.getLogger(__name__)


class Session:
    """One chDB connection, used by one thread at a time; tracks the session's database and settings."""

    def __init__(self, conn: Any):
        self._conn = conn
        self._lock = threading.Lock()
        self._database = "default"
        self._settings: dict[str, str] = {}
        self.version = self._raw("SELECT version()").strip()
        self.timezone = self._raw("SELECT timezone()").strip()

    def _raw(self, sql: str) -> str:
        return bytes(self._conn.query(sql, "TabSeparated").bytes()).decode()

    def _prepare(self, req: hc.Request) -> None:
        """Bring the connection's database and settings to what this request asks (lock held)."""
        wanted_db = req.database or "default"
        if wanted_db != self._database:
            self._conn.query(f"USE `{wanted_db.replace('`', '``')}`")
            self._database = wanted_db
        for name in [n for n in self._settings if n not in req.settings]:
            del self._settings[name]  # forget first: a reset that fails must not fail every request
            self._conn.query(f"SET {name} = DEFAULT")
        for name, value in req.settings.items():
            if self._settings.get(name) != value:
                self._conn.query(hc.set_statement(name, value))
                self._settings[name] = value

    def _guarded(self, fn: Any) -> Any:
        from chdb import ChdbError

        try:
            return fn()
        except (ChdbError, RuntimeError) as exc:
            # A failed SET/USE leaves our bookkeeping unsure: forget it so the next request re-applies.
            raise hc.from_engine_error(str(exc)) from exc

    def query(self, req: hc.Request, sql: str, fmt: str) -> tuple[bytes, str]:
        """Run one statement; returns (body, X-ClickHouse-Summary)."""
        with self._lock:
            self._guarded(lambda: self._prepare_safely(req))
            started = time.perf_counter()
            try:
                result = self._guarded(
                    lambda: self._conn.query(sql, fmt, params=req.params or None)
                )
            finally:
                self._note_session_changes(sql)
            body = bytes(result.bytes())
            # chDB: rows_read() counts result rows; storage_rows_read() what was read
            summ = hc.summary(
                _attr(result, "storage_rows_read"),
                _attr(result, "storage_bytes_read"),
                _attr(result, "rows_written"),
                _attr(result, "bytes_written"),
                result.rows_read(),
                len(body),
                time.perf_counter() - started,
            )
        return body, summ

    def insert(self, req: hc.Request, statement: str, fmt: str, chunks: Any) -> str:
        """Stream FORMAT-encoded chunks into `statement`; returns X-ClickHouse-Summary."""
        with self._lock:
            self._guarded(lambda: self._prepare_safely(req))
            started = time.perf_counter()
            inserter = self._guarded(lambda: self._conn.send_insert(statement, fmt))
            try:
                for chunk in chunks:
                    if chunk:
                        self._guarded(lambda c=chunk: inserter.append(c))
                done = self._guarded(inserter.finish)
            except BaseException:
                inserter.cancel()
                raise
            return hc.summary(
                0, 0, done.rows_written, done.bytes_written, 0, 0, time.perf_counter() - started
            )

    def _note_session_changes(self, sql: str) -> None:
        """A `USE` or `SET` sent as a query lasts for this request only, as over ClickHouse HTTP."""
        use, names = hc.session_changes(sql)
        if use:
            self._database = "?"
        for name in names:
            self._settings[name] = "?"  # reset (or re-applied) by the next request

    def _prepare_safely(self, req: hc.Request) -> None:
        try:
            self._prepare(req)
        except Exception:
            self._settings = {name: "?" for name in self._settings}  # force re-apply next time
            self._database = "?"
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()


class Engine:
    """A pool of chDB sessions on one data directory, so requests run side by side.

    chDB runs each connection's queries in the calling thread and releases the GIL meanwhile; every
    connection of the process shares one engine (tables, caches, background merges) but has its own
    session (database, settings). A request borrows a free session for its whole statement and
    waits when all are busy, which caps the endpoint's concurrency at ``sessions``.
    """

    def __init__(self, data_dir: Path, sessions: int = 4, *, merge_nice: int = 0):
        import chdb

        data_dir.mkdir(parents=True, exist_ok=True)
        self._input_dir = data_dir / "input-bodies"  # bodies of INSERT ... FROM input(...)
        url = str(data_dir)
        if merge_nice:
            # A server setting, so it takes the first connection's URL (all share one engine).
            # ClickHouse sets the nice value on a merge's thread while the merge runs.
            url += f"?os_threads_nice_value_merge_mutate={int(merge_nice)}"
        self._sessions = [Session(chdb.connect(url)) for _ in range(max(1, sessions))]
        self._free: queue.Queue[Session] = queue.Queue()
        for session in self._sessions:
            self._free.put(session)
        self.version = self._sessions[0].version
        self.timezone = self._sessions[0].timezone
        self.closing = False

    def _borrow(self) -> Session:
        """A free session; while stopping, a retryable refusal instead (the server's answer must
        say "try again", not look like an error about the request's rows)."""
        while not self.closing:
            try:
                return self._free.get(timeout=0.5)
            except queue.Empty:
                continue
        raise hc.HttpError(SHUTTING_DOWN, "the server is shutting down", "ABORTED", 503)

    def query(self, req: hc.Request, sql: str, fmt: str) -> tuple[bytes, str]:
        session = self._borrow()
        try:
            return session.query(req, sql, fmt)
        finally:
            self._free.put(session)

    def insert(self, req: hc.Request, statement: str, fmt: str, chunks: Any) -> str:
        session = self._borrow()
        try:
            return session.insert(req, statement, fmt, chunks)
        finally:
            self._free.put(session)

    def insert_select(
        self, req: hc.Request, statement: str, fmt: str, body: bytes
    ) -> tuple[bytes, str]:
        """`INSERT ... SELECT ... FROM input(...)` with ``body`` as the input: chDB reads it from a
        file of the engine's own, deleted afterwards."""
        self._input_dir.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(dir=self._input_dir, suffix="." + fmt.lower())
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(body)
            return self.query(req, hc.file_input(statement, path, fmt), "TabSeparated")
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def close(self, timeout_s: float = 30.0) -> None:
        """Refuse new statements, wait for those running (each returns its session), close."""
        self.closing = True
        deadline = time.monotonic() + timeout_s
        for _ in self._sessions:
            try:
                self._free.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                logger.warning("a statement still ran after %.0f s; closing anyway", timeout_s)
                break
        for session in self._sessions:
            session.close()


SHUTTING_DOWN = 236  # ClickHouse's ABORTED: clients retry it


def _attr(result: Any, name: str) -> int:
    try:
        return int(getattr(result, name)())
    except Exception:
        return 0
