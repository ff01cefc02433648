"""A mosquitto of a test's own (the Debian package), on a free port, stopped when the test ends."""

from __future__ import annotations

import contextlib
import getpass
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def running_mosquitto(workdir: Path, port: int, extra_conf: str) -> Iterator[int]:
    """mosquitto on 127.0.0.1:``port`` with ``extra_conf`` lines (password file, ACL...), up when
    this yields the port. It runs as whoever we are: as root it would switch to its own user, who
    cannot read a 0600 password file."""
    conf = workdir / "mosquitto.conf"
    conf.write_text(
        f"user {getpass.getuser()}\nlistener {port} 127.0.0.1\npersistence false\n{extra_conf}"
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError("mosquitto did not start") from None
                time.sleep(0.1)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
