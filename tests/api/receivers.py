"""Local receivers for alert-route tests: a webhook server and a mosquitto with a password file."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.mosquitto import running_mosquitto

from .helpers import free_port


@dataclass
class Hook:
    url: str
    posts: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    def bodies(self, path: str) -> list[bytes]:
        return [b for p, _h, b in list(self.posts) if p == path]


@contextlib.contextmanager
def webhook_receiver() -> Iterator[Hook]:
    hook = Hook("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            hook.posts.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    hook.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hook
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Broker:
    port: int
    username: str
    password: str


def mosquitto_available() -> bool:
    return bool(shutil.which("mosquitto") and shutil.which("mosquitto_passwd"))


@contextlib.contextmanager
def mosquitto_with_password(workdir: Path) -> Iterator[Broker]:
    """A mosquitto of our own on a free port that only takes one user with a password."""
    broker = Broker(free_port(), "notifier", "mqtt-pass-8d1f")
    passwd = workdir / "passwd"
    subprocess.run(
        ["mosquitto_passwd", "-b", "-c", str(passwd), broker.username, broker.password],
        check=True,
        capture_output=True,
    )
    passwd.chmod(0o600)
    extra = f"allow_anonymous false\npassword_file {passwd}\n"
    with running_mosquitto(workdir, broker.port, extra):
        yield broker
