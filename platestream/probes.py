"""A stage's metrics port with probes that see a stuck loop (drop-in for prometheus_client's
``start_http_server``).

- ``/health`` and ``/livez``: 200 while every tracked consume loop (platestream/heartbeat.py) has
  polled within ``max_age_s`` (PLATESTREAM_LIVENESS_MAX_AGE_S, default 60); 503 naming the stale
  loops otherwise. Before any loop subscribes (start-up) it answers 200: the startup probe's
  budget covers that phase.
- ``/readyz``: 200 once at least one loop is tracked and none is stale.
- Anything else: the Prometheus exposition, as before.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer, _SilentHandler

from platestream.heartbeat import HEARTBEATS, Heartbeats


def _max_age_s() -> float:
    from platestream.settings import common

    return common().liveness_max_age_s  # PLATESTREAM_LIVENESS_MAX_AGE_S


StartResponse = Callable[[str, list[tuple[str, str]]], Any]


def probe_app(
    registry: CollectorRegistry = REGISTRY,
    *,
    heartbeats: Heartbeats = HEARTBEATS,
    max_age_s: float | None = None,
) -> Callable[[dict[str, Any], StartResponse], Iterable[bytes]]:
    metrics = make_wsgi_app(registry)
    limit = _max_age_s() if max_age_s is None else max_age_s

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path not in ("/health", "/livez", "/readyz"):
            return metrics(environ, start_response)  # type: ignore[no-any-return]
        ages = heartbeats.ages()
        stale = {name: age for name, age in ages.items() if age > limit}
        ok = not stale and (bool(ages) or path != "/readyz")
        body = json.dumps({"ok": ok, "loops": ages, "stale": stale, "max_age_s": limit}).encode()
        status = "200 OK" if ok else "503 Service Unavailable"
        start_response(status, [("Content-Type", "application/json")])
        return [body]

    return app


def start_metrics_server(
    port: int,
    addr: str = "127.0.0.1",
    registry: CollectorRegistry = REGISTRY,
    *,
    heartbeats: Heartbeats = HEARTBEATS,
    max_age_s: float | None = None,
) -> tuple[WSGIServer, threading.Thread]:
    """Serve metrics and the probes on ``addr:port`` from a daemon thread."""
    app = probe_app(registry, heartbeats=heartbeats, max_age_s=max_age_s)
    server = make_server(addr, port, app, ThreadingWSGIServer, handler_class=_SilentHandler)
    thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
    thread.start()
    return server, thread
