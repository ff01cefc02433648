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
import signal
import socket
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from platestream.stack import httpcodec as hc
from platestream.stack.chengine import Engine
from platestream.stack.httpcompression import decode_body, encode_body, pick_response_encoding

logger = logging.getLogger(__name__)

SERVER_NAME = "platestream-chdb"
MAX_BODY = 2 * 1024 * 1024 * 1024


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
        enc = pick_response_encoding(self.headers.get("Accept-Encoding")) if compress_ok else None
        if enc and body:
            body = encode_body(body, enc)
            self.send_header("Content-Encoding", enc)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("X-ClickHouse-Server-Display-Name", SERVER_NAME)
        self.send_header("Content-Length", str(len(body)))
        if self.close_connection:
            # say so: a client that pooled the connection would send its next request into a
            # socket this server closes (seen as RemoteDisconnected after an unexpected error)
            self.send_header("Connection", "close")
        else:
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
                form = decode_body(body, self.headers.get("Content-Encoding"))
                params.update(hc.form_fields(content_type, form))
                body = b""
            req = hc.split_params(params)
            self._check_auth(req)
            body = decode_body(body, self.headers.get("Content-Encoding"))
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
            input_insert = hc.input_insert(req.query, body)
            if input_insert is not None:  # INSERT ... SELECT ... FROM input(...): the body is data
                statement, fmt = input_insert
                _out, summ = engine.insert_select(req, statement, fmt, body)
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
    data_dir: Path,
    host: str,
    port: int,
    user: str,
    password: str,
    sessions: int = 4,
    merge_nice: int = 0,
) -> None:
    engine = Engine(data_dir, sessions, merge_nice=merge_nice)
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
    parser.add_argument(
        "--merge-nice",
        type=int,
        default=0,
        choices=range(20),
        metavar="0-19",
        help="Linux nice value of the background merges (0: that of the queries)",
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
    serve(args.data_dir, args.host, args.port, args.user, password, args.sessions, args.merge_nice)


if __name__ == "__main__":
    main()
