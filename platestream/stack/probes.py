"""Readiness probes for the local stack: is a port taken, by whom, and does the server answer."""

from __future__ import annotations

import base64
import socket
import struct
import urllib.error
import urllib.request

import psutil


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def port_owner(port: int) -> str:
    """Who listens on a local TCP port, in words (best effort; empty when unknown)."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return ""
    for conn in conns:
        if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
            if conn.pid is None:
                return "another process"
            try:
                proc = psutil.Process(conn.pid)
                cmd = " ".join(" ".join(proc.cmdline()[:3]).split())[:120]
                return f"pid {conn.pid} ({cmd})"
            except psutil.Error:
                return f"pid {conn.pid}"
    return ""


def listening_pids(port: int) -> set[int]:
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, OSError):
        return set()
    return {
        c.pid
        for c in conns
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid
    }


def kafka_api_versions(host: str, port: int, timeout: float = 2.0) -> bool:
    """Send a Kafka ApiVersions v0 request and check for a well-formed, error-free answer."""
    client_id = b"platestream-probe"
    correlation = 7
    body = struct.pack(">hhih", 18, 0, correlation, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _recv_exact(sock, 4)
            (size,) = struct.unpack(">i", header)
            if size < 6 or size > 1 << 20:
                return False
            payload = _recv_exact(sock, size)
    except OSError:
        return False
    corr, error = struct.unpack(">ih", payload[:6])
    return corr == correlation and error == 0


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf.extend(chunk)
    return bytes(buf)


def http_get(
    url: str, timeout: float = 2.0, user: str | None = None, password: str | None = None
) -> tuple[int, bytes]:
    """(status, body) of a GET; status 0 when nothing answered."""
    request = urllib.request.Request(url)
    if user is not None:
        token = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, ValueError):
        return 0, b""


def clickhouse_ping(
    base_url: str, user: str, password: str, timeout: float = 2.0
) -> tuple[bool, str]:
    """/ping answers `Ok.` and an authenticated `SELECT 1` works."""
    status, body = http_get(base_url.rstrip("/") + "/ping", timeout)
    if status != 200 or body.strip() != b"Ok.":
        return False, f"/ping answered {status or 'nothing'}"
    status, body = http_get(base_url.rstrip("/") + "/?query=SELECT%201", timeout, user, password)
    if status != 200:
        return False, f"SELECT 1 answered {status}: {body[:200].decode(errors='replace').strip()}"
    return True, "ok"


def s3_ready(
    endpoint: str, access_key: str, secret_key: str, region: str, timeout: float = 3.0
) -> tuple[bool, str]:
    """ListBuckets with the configured keys succeeds."""
    import urllib3
    from minio import Minio
    from minio.error import S3Error

    host = endpoint.split("://", 1)[-1].rstrip("/")
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=timeout, read=timeout),
        retries=urllib3.Retry(total=0),
    )
    client = Minio(
        host,
        access_key=access_key,
        secret_key=secret_key,
        secure=endpoint.startswith("https://"),
        region=region,
        http_client=http,
    )
    try:
        client.list_buckets()
        return True, "ok"
    except S3Error as exc:
        return False, f"{exc.code}: {exc.message}"
    except Exception as exc:  # urllib3 raises several connection error types
        return False, f"{type(exc).__name__}"
    finally:
        http.clear()


def clickhouse_http(url: str, user: str, password: str, sql: str, timeout: float = 30.0) -> str:
    """Run one statement over the ClickHouse HTTP interface (chDB endpoint or a real server).

    Raises RuntimeError with ClickHouse's own error text on a non-200 answer.
    """
    import urllib.parse

    full = url.rstrip("/") + "/?" + urllib.parse.urlencode({"query": sql})
    request = urllib.request.Request(full, data=b"", method="POST")
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return resp.read().decode()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(exc.read().decode(errors="replace").strip()) from exc
