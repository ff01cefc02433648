"""Camera credentials as secrets: stored apart from the camera record, referenced by name, never returned.

Shared by the API (writes them) and the ingest camera manager (reads them to open streams).

The camera record on ``anpr.cameras.v1`` carries only ``credentials_secret`` (a name). The value
lives in a secret store: here one file per secret, mode 0600, under ``<var_dir>/secrets``; in a
deployment that directory is a mounted Kubernetes Secret or a Vault agent's output, so the stages
that open camera streams read the same names.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class SecretStore:
    """Named secrets as files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _path(self, name: str) -> Path:
        if not _NAME.match(name):
            raise ValueError(f"bad secret name {name!r}")
        return self.directory / name

    def put(self, name: str, value: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self._path(name)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(value)
        os.replace(tmp, path)

    def get(self, name: str) -> str | None:
        try:
            return self._path(name).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def delete(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)


def camera_secret_name(camera_id: str) -> str:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in camera_id)
    return f"camera-{safe}-stream"


def with_credentials(url: str, secret: str | None) -> str:
    """``url`` with the user and password of a stored camera secret (JSON ``{"username",
    "password"}``) in its authority; ``url`` unchanged without a secret or for sim:// and files."""
    import json
    from urllib.parse import quote, urlsplit, urlunsplit

    if not secret:
        return url
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("rtsp", "rtsps", "rtmp", "http", "https") or not parts.hostname:
        return url
    try:
        creds = json.loads(secret)
        user, password = str(creds.get("username", "")), str(creds.get("password", ""))
    except (ValueError, AttributeError) as exc:
        raise ValueError("camera secret is not JSON with username and password") from exc
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port:
        host = f"{host}:{parts.port}"
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return urlunsplit((parts.scheme, f"{auth}@{host}", parts.path, parts.query, parts.fragment))
