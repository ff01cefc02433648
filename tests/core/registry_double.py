"""A Confluent Schema Registry HTTP double that stores exactly what it receives.

It answers the calls platestream makes (register, fetch by id, test compatibility) and applies
BACKWARD compatibility with the `avro` library's reader/writer checker, the rule compose and
Kubernetes configure on the real registry. No registry server installs on this machine kind, so
this stands in for one; the checker is Avro's own, not the registry's Java implementation.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from platestream.registry import compatibility_problems


def backward_problems(old: str, new: str) -> list[str]:
    """The registry's BACKWARD rule: a reader with ``new`` reads data written with ``old``."""
    return [p for p in compatibility_problems(old, new) if p.startswith("backward")]


@dataclass
class RegistryState:
    schemas: list[str] = field(default_factory=list)  # id - 1 -> schema string as received
    subjects: dict[str, list[int]] = field(default_factory=dict)  # subject -> ids by version
    requests: list[tuple[str, str, Any]] = field(default_factory=list)  # method, path, body

    def received(self, subject: str) -> list[dict[str, Any]]:
        """The schemas registered under ``subject``, parsed, oldest first."""
        return [json.loads(self.schemas[i - 1]) for i in self.subjects.get(subject, [])]


class _Handler(BaseHTTPRequestHandler):
    state: RegistryState
    lock: threading.Lock

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"{}")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        body = self._body()
        with self.lock:
            self.state.requests.append(("POST", self.path, body))
            if m := re.fullmatch(r"/subjects/([^/]+)/versions", path):
                self._register(unquote(m.group(1)), body["schema"])
            elif m := re.fullmatch(r"/compatibility/subjects/([^/]+)/versions/latest", path):
                self._compatibility(unquote(m.group(1)), body["schema"])
            else:
                self._reply(404, {"error_code": 404, "message": f"no route {path}"})

    def do_GET(self) -> None:
        path = urlsplit(self.path).path
        with self.lock:
            self.state.requests.append(("GET", self.path, None))
            m = re.fullmatch(r"/schemas/ids/(\d+)", path)
            latest = re.fullmatch(r"/subjects/([^/]+)/versions/latest", path)
            if m and 0 < int(m.group(1)) <= len(self.state.schemas):
                self._reply(200, {"schema": self.state.schemas[int(m.group(1)) - 1]})
            elif latest and self.state.subjects.get(unquote(latest.group(1))):
                subject = unquote(latest.group(1))
                versions = self.state.subjects[subject]
                sid = versions[-1]
                self._reply(
                    200,
                    {
                        "subject": subject,
                        "version": len(versions),
                        "id": sid,
                        "schema": self.state.schemas[sid - 1],
                    },
                )
            elif latest:
                self._reply(404, {"error_code": 40401, "message": "Subject not found."})
            else:
                self._reply(404, {"error_code": 40403, "message": "Schema not found"})

    def _register(self, subject: str, schema: str) -> None:
        versions = self.state.subjects.setdefault(subject, [])
        for sid in versions:
            if self.state.schemas[sid - 1] == schema:
                self._reply(200, {"id": sid})
                return
        if versions and backward_problems(self.state.schemas[versions[-1] - 1], schema):
            self._reply(
                409, {"error_code": 409, "message": "Schema being registered is incompatible"}
            )
            return
        if schema in self.state.schemas:
            sid = self.state.schemas.index(schema) + 1
        else:
            self.state.schemas.append(schema)
            sid = len(self.state.schemas)
        versions.append(sid)
        self._reply(200, {"id": sid})

    def _compatibility(self, subject: str, schema: str) -> None:
        versions = self.state.subjects.get(subject)
        if not versions:
            self._reply(404, {"error_code": 40401, "message": f"Subject '{subject}' not found."})
            return
        ok = not backward_problems(self.state.schemas[versions[-1] - 1], schema)
        self._reply(200, {"is_compatible": ok})


@contextmanager
def registry_double() -> Iterator[tuple[str, RegistryState]]:
    """A running double on a free 127.0.0.1 port: yields (url, state)."""
    state = RegistryState()
    handler = type("Handler", (_Handler,), {"state": state, "lock": threading.Lock()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", state
    finally:
        server.shutdown()
        server.server_close()
