"""Container health check for every platestream stage (Docker HEALTHCHECK, compose, k8s exec probes).

Usage: healthcheck.py [STAGE] [--ready]
STAGE defaults to the stage PID 1 runs (read from /proc/1/cmdline: `platestream <stage> ...`).
It GETs the stage's own HTTP endpoint on 127.0.0.1 and exits 0 on a 2xx answer, 1 otherwise.
The API and ingest serve /health (liveness) and the API /ready (Kafka, ClickHouse, S3 reachable);
detect, enrich, sink and anomalies answer on their Prometheus port, notify and health (faust) at / of
their web port; `ingest mqtt|camera|dahua|file` open no port, so for them the check only says
so and passes. Ports follow the stage settings (PLATESTREAM_<STAGE>_..._PORT) so a changed port
needs no probe change. Standard library only: it runs every few seconds and must start fast.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

# stage -> (env var holding the port, default port, liveness path, readiness path)
ENDPOINTS: dict[str, tuple[str, int, str, str]] = {
    "ingest": ("PLATESTREAM_INGEST_PORT", 8080, "/health", "/health"),
    "api": ("PLATESTREAM_API_PORT", 8000, "/health", "/ready"),
    "detect": ("PLATESTREAM_DETECT_METRICS_PORT", 9101, "/health", "/health"),
    "enrich": ("PLATESTREAM_ENRICH_METRICS_PORT", 9102, "/health", "/health"),
    "sink": ("PLATESTREAM_SINK_METRICS_PORT", 9103, "/health", "/health"),
    "anomalies": ("PLATESTREAM_ANOMALY_METRICS_PORT", 9108, "/health", "/health"),
    # notify and health run on faust, whose web server answers {"status": "OK"} at /.
    "notify": ("PLATESTREAM_NOTIFY_WEB_PORT", 9104, "/", "/"),
    "health": ("PLATESTREAM_HEALTH_WEB_PORT", 9105, "/", "/"),
}
# `platestream ingest <sub>` commands other than `serve` (mqtt, camera, dahua, file) open no port:
# for them the container's health is its process's (the check says so and passes).
NO_ENDPOINT = {("ingest", sub) for sub in ("mqtt", "camera", "dahua", "file")}
# Sub-commands with a port of their own, as in ENDPOINTS: the camera manager answers any path of
# its Prometheus port (/health included) while it runs.
SUB_ENDPOINTS: dict[tuple[str, str], tuple[str, int, str, str]] = {
    ("ingest", "cameras"): ("PLATESTREAM_INGEST_CAMERAS_METRICS_PORT", 9107, "/health", "/health"),
}
TIMEOUT_S = 3.0


def command_of_pid1(cmdline: Path = Path("/proc/1/cmdline")) -> tuple[str, str] | None:
    """(stage, sub-command or "") that `platestream <stage> [<sub>]` in PID 1's command line runs."""
    try:
        args = cmdline.read_bytes().split(b"\0")
    except OSError:
        return None
    words = [Path(a.decode(errors="replace")).name for a in args if a]
    for i, word in enumerate(words):
        if word == "platestream" and i + 1 < len(words) and words[i + 1] in ENDPOINTS:
            return words[i + 1], (words[i + 2] if i + 2 < len(words) else "")
    return None


def stage_of_pid1(cmdline: Path = Path("/proc/1/cmdline")) -> str | None:
    """The stage that PID 1 runs, if any."""
    found = command_of_pid1(cmdline)
    return found[0] if found else None


def url_for(stage: str, ready: bool, env: dict[str, str], sub: str = "") -> str:
    var, default, live_path, ready_path = SUB_ENDPOINTS.get((stage, sub)) or ENDPOINTS[stage]
    port = int(env.get(var) or default)
    return f"http://127.0.0.1:{port}{ready_path if ready else live_path}"


def check(url: str) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            return 200 <= resp.status < 300, f"{url} -> {resp.status}"
    except urllib.error.HTTPError as exc:
        return False, f"{url} -> {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return False, f"{url} -> {exc}"


def main(argv: list[str]) -> int:
    ready = "--ready" in argv
    names = [a for a in argv if not a.startswith("-")]
    found = (names[0], names[1] if len(names) > 1 else "") if names else command_of_pid1()
    if found in NO_ENDPOINT:
        print(f"platestream {found[0]} {found[1]} has no health endpoint: healthy while it runs")
        return 0
    stage = found[0] if found else None
    if stage is None:
        print("healthcheck: no stage given and PID 1 is not `platestream <stage>`", file=sys.stderr)
        return 1
    if stage not in ENDPOINTS:
        print(
            f"healthcheck: unknown stage {stage!r}; known: {', '.join(ENDPOINTS)}", file=sys.stderr
        )
        return 1
    sub = found[1] if found else ""
    ok, detail = check(url_for(stage, ready, dict(os.environ), sub))
    print(detail, file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
