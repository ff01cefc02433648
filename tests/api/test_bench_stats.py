"""`bench api`'s throughput figures: requests counted, CPU per request per process, the ceiling."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from services.api.bench_stats import throughput


class _Events(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.count += 1  # type: ignore[attr-defined]
        sum(i * i for i in range(20_000))  # some CPU per request, in this process
        body = json.dumps({"items": []}).encode()
        self.send_response(200 if self.path.startswith("/api/v1/events") else 404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _serve() -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Events)
    server.count = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_throughput_reports_cpu_per_request_and_the_ceiling_it_sets() -> None:
    server = _serve()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        tp = throughput([url], {}, dict, 2, 0.5, {"api": [os.getpid()], "gone": [None]})
    finally:
        server.shutdown()
        server.server_close()
    assert tp["requests"] > 0 and tp["errors"] == 0
    cpu = tp["cpu_ms_per_request"]
    assert set(cpu) == {"api", "client"}  # a process that is not there is left out
    # the server runs in this process, so "api" counts its work too: well above nothing
    assert cpu["api"] > 0.1 and cpu["client"] > 0.1
    cores = os.cpu_count() or 1
    assert tp["ceiling_requests_per_s"] == round(1000 * cores / sum(cpu.values()), 1)


def test_the_clients_are_spread_over_the_replicas() -> None:
    servers = [_serve(), _serve()]
    try:
        urls = [f"http://127.0.0.1:{s.server_address[1]}" for s in servers]
        pid = os.getpid()
        tp = throughput(urls, {}, dict, 4, 0.5, {"api": [pid, pid]})
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
    counts = [s.count for s in servers]  # type: ignore[attr-defined]
    assert tp["errors"] == 0 and sum(counts) == tp["requests"] and min(counts) > 0, counts
