"""The ClickHouse HTTP interface on top of chDB, so clickhouse-connect and curl work unchanged.

chDB runs ClickHouse in-process and has no listener; only one process may open its data
directory. This process owns that directory and answers the subset of the HTTP interface the
project and its operators use (see docs/local-stack.md). It is a thin adapter: SQL, formats,
settings and query parameters are all handled by the ClickHouse engine inside chDB.

Run: python -m platestream.stack.chserver --data-dir var/clickhouse --port 8123
"""

from __future__ import annotations

import argparse
import base64
import hmac
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from platestream.stack import httpcodec as hc

logger = logging.getLogger(__name__)

SERVER_NAME = "platestream-chdb"
MAX_BODY = 2 * 1024 * 1024 * 1024


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

    def __init__(self, data_dir: Path, sessions: int = 4):
        import chdb

        data_dir.mkdir(parents=True, exist_ok=True)
        self._sessions = [Session(chdb.connect(str(data_dir))) for _ in range(max(1, sessions))]
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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = SERVER_NAME
    server: ChServer

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    # -- plumbing ---------------------------------------------------------------------------
    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            total = 0
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                total += size
                if total > MAX_BODY:
                    self.close_connection = True
                    raise hc.HttpError(
                        hc.BAD_ARGUMENTS, "request body too large", "BAD_ARGUMENTS", 413
                    )
                parts.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(parts)
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True
            raise hc.HttpError(hc.BAD_ARGUMENTS, "request body too large", "BAD_ARGUMENTS", 413)
        return self.rfile.read(length) if length else b""

    def _send(
        self,
        status: int,
        body: bytes,
        headers: dict[str, str] | None = None,
        compress_ok: bool = False,
    ) -> None:
        self.send_response(status)
        enc = (
            hc.pick_response_encoding(self.headers.get("Accept-Encoding")) if compress_ok else None
        )
        if enc and body:
            body = hc.encode_body(body, enc)
            self.send_header("Content-Encoding", enc)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("X-ClickHouse-Server-Display-Name", SERVER_NAME)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Keep-Alive", "timeout=10")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_error(self, err: hc.HttpError, query_id: str) -> None:
        self._send(
            err.status,
            err.body,
            {
                "Content-Type": "text/plain; charset=UTF-8",
                "X-ClickHouse-Exception-Code": str(err.code),
                "X-ClickHouse-Query-Id": query_id,
            },
        )

    def _check_auth(self, req: hc.Request) -> None:
        user, password = req.user, req.password
        auth = self.headers.get("Authorization", "")
        if auth.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except ValueError as exc:
                raise hc.HttpError(
                    hc.AUTHENTICATION_FAILED,
                    "Malformed Basic authorization header",
                    "AUTHENTICATION_FAILED",
                ) from exc
        user = self.headers.get("X-ClickHouse-User") or user or "default"
        password = self.headers.get("X-ClickHouse-Key") or password or ""
        ok_user = hmac.compare_digest(user.encode(), self.server.user.encode())
        ok_pass = hmac.compare_digest(password.encode(), self.server.password.encode())
        if not (ok_user and ok_pass):
            raise hc.HttpError(
                hc.AUTHENTICATION_FAILED,
                f"{user}: Authentication failed: password is incorrect, or there is no user with such name",
                "AUTHENTICATION_FAILED",
            )

    # -- verbs --------------------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        if path in ("/ping", "/replicas_status") or (path == "/" and "query=" not in self.path):
            self._send(200, b"Ok.\n", {"Content-Type": "text/html; charset=UTF-8"})
            return
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        url = urlsplit(self.path)
        params = dict(parse_qsl(url.query, keep_blank_values=True))
        query_id = params.get("query_id") or str(uuid.uuid4())
        try:
            # read the body first, so the connection stays usable whatever the answer
            body = self._read_body() if self.command == "POST" else b""
            if url.path not in ("/", ""):
                raise hc.HttpError(
                    hc.BAD_ARGUMENTS, f"There is no handle {url.path}", "BAD_ARGUMENTS", 404
                )
            content_type = self.headers.get("Content-Type", "")
            if content_type.lower().startswith("multipart/"):
                # query and param_* as form fields (clients do so for long parameters)
                form = hc.decode_body(body, self.headers.get("Content-Encoding"))
                params.update(hc.form_fields(content_type, form))
                body = b""
            req = hc.split_params(params)
            self._check_auth(req)
            body = hc.decode_body(body, self.headers.get("Content-Encoding"))
            response, headers = self._execute(req, body)
        except hc.HttpError as err:
            self._send_error(err, query_id)
            return
        except (ConnectionError, TimeoutError) as exc:
            logger.info("client went away: %s", exc)
            self.close_connection = True
            return
        except Exception as exc:  # last resort: answer, never kill the server
            logger.exception("unexpected error")
            self.close_connection = True  # the request may not have been read to its end
            self._send_error(
                hc.HttpError(1001, f"{type(exc).__name__}: {exc}", "STD_EXCEPTION"), query_id
            )
            return
        headers["X-ClickHouse-Query-Id"] = query_id
        headers["X-ClickHouse-Timezone"] = self.server.engine.timezone
        compress = params.get("enable_http_compression") == "1"
        self._send(200, response, headers, compress_ok=compress)

    def _execute(self, req: hc.Request, body: bytes) -> tuple[bytes, dict[str, str]]:
        engine = self.server.engine
        if req.query:
            insert = hc.split_insert(req.query.encode())
            if insert is not None:
                # ClickHouse reads `query` + "\n" + body: inline data in the URL comes first
                data = insert.data + b"\n" + body if insert.data.strip() else body
                summ = engine.insert(req, insert.statement, insert.fmt, [data])
                return b"", {
                    "X-ClickHouse-Summary": summ,
                    "Content-Type": "text/plain; charset=UTF-8",
                }
            sql = req.query + ("\n" + _text(body) if body else "")
        else:
            insert = hc.split_insert(body)
            if insert is not None:
                summ = engine.insert(req, insert.statement, insert.fmt, [insert.data])
                return b"", {
                    "X-ClickHouse-Summary": summ,
                    "Content-Type": "text/plain; charset=UTF-8",
                }
            sql = _text(body)
        if not sql.strip():
            raise hc.HttpError(62, "Empty query", "SYNTAX_ERROR")
        fmt = hc.output_format(sql, req.default_format)
        out, summ = engine.query(req, sql, req.default_format)
        return out, {
            "X-ClickHouse-Summary": summ,
            "X-ClickHouse-Format": fmt,
            "Content-Type": _content_type(fmt),
        }


def _text(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise hc.HttpError(
            hc.BAD_ARGUMENTS, f"query is not valid UTF-8: {exc}", "BAD_ARGUMENTS"
        ) from exc


def _content_type(fmt: str) -> str:
    low = fmt.lower()
    if low.startswith("json"):
        return "application/json; charset=UTF-8"
    if low.startswith(("tabseparated", "tsv", "csv", "pretty", "values")):
        return "text/plain; charset=UTF-8"
    return "application/octet-stream"


class ChServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], engine: Engine, user: str, password: str):
        super().__init__(address, Handler)
        self.engine = engine
        self.user = user
        self.password = password


def serve(
    data_dir: Path, host: str, port: int, user: str, password: str, sessions: int = 4
) -> None:
    engine = Engine(data_dir, sessions)
    try:
        server = ChServer((host, port), engine, user, password)
    except OSError as exc:
        engine.close()
        raise SystemExit(
            f"chserver: cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from exc
    server.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    stop = threading.Event()

    def _stop(signum: int, _frame: Any) -> None:
        logger.info("signal %s: stopping", signum)
        engine.closing = True  # statements not yet started are refused as retryable
        stop.set()
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    logger.info("chDB %s serving %s on http://%s:%s", engine.version, data_dir, host, port)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
        engine.close()
        logger.info("stopped")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    parser.add_argument(
        "--user", default=os.environ.get("PLATESTREAM_CLICKHOUSE_USER", "platestream")
    )
    parser.add_argument(
        "--sessions", type=int, default=4, help="chDB sessions: queries that run at once"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    # The password comes from the environment only, so it never shows in `ps`.
    password = os.environ.get("PLATESTREAM_CLICKHOUSE_PASSWORD")
    if password is None:
        from platestream.settings import DEV_CLICKHOUSE_PASSWORD

        password = DEV_CLICKHOUSE_PASSWORD
    logging.basicConfig(
        level=args.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    serve(args.data_dir, args.host, args.port, args.user, password, args.sessions)


if __name__ == "__main__":
    main()
