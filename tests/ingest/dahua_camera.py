"""A local stand-in for a Dahua camera: HTTP digest auth and a multipart/x-mixed-replace event
stream (text part + JPEG part per event, heartbeats), that can go away and come back."""

from __future__ import annotations

import hashlib
import os
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from platestream.stack.ports import free_port

REALM = "Login to 4L0000000000"
BOUNDARY = "myboundary"


def _md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


class FakeDahua:
    """``start()``/``stop()`` any number of times on one port; ``send(part_bytes)`` queues parts."""

    def __init__(
        self, username: str = "admin", password: str = "cam-pass-1", port: int | None = None
    ) -> None:
        self.username, self.password = username, password
        self.port = port or free_port()
        self.parts: queue.Queue[bytes] = queue.Queue()
        self.connections = 0
        self.unauthorised = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._alive = threading.Event()
        self.connected = threading.Event()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def send(self, data: bytes, content_type: str = "text/plain") -> None:
        self.parts.put(
            f"--{BOUNDARY}\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
            + data
            + b"\r\n\r\n"
        )

    def start(self) -> None:
        cam = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                if not cam._authorised(self.headers.get("Authorization", ""), self.path):
                    cam.unauthorised += 1
                    nonce = os.urandom(8).hex()
                    self.send_response(401)
                    self.send_header(
                        "WWW-Authenticate",
                        f'Digest realm="{REALM}", qop="auth", nonce="{nonce}", opaque="{os.urandom(4).hex()}"',
                    )
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                cam.connections += 1
                self.send_response(200)
                self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.flush()
                cam.connected.set()
                while cam._alive.is_set():
                    try:
                        data = cam.parts.get(timeout=0.1)
                    except queue.Empty:
                        continue
                    try:
                        self.wfile.write(data)
                        self.wfile.flush()
                    except OSError:
                        cam.parts.put(data)
                        return
                self.close_connection = True

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._alive.set()
        self.connected.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """The camera goes away: open streams are cut and the port stops answering."""
        self._alive.clear()
        self.connected.clear()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _authorised(self, header: str, uri: str) -> bool:
        if not header.startswith("Digest "):
            return False
        fields = {}
        for item in header[7:].split(","):
            k, _, v = item.strip().partition("=")
            fields[k] = v.strip('"')
        if fields.get("username") != self.username or fields.get("realm") != REALM:
            return False
        ha1 = _md5(f"{self.username}:{REALM}:{self.password}")
        ha2 = _md5(f"GET:{fields.get('uri', '')}")
        expected = _md5(
            f"{ha1}:{fields.get('nonce')}:{fields.get('nc')}:{fields.get('cnonce')}:{fields.get('qop')}:{ha2}"
        )
        return fields.get("response") == expected and fields.get("uri") == uri
