"""Kubernetes probes: HTTP GETs the kubelet makes itself, on the stage's own port and the path the
stage answers (for detect, enrich and sink that /health turns 503 when a consume loop stops
polling, platestream/probes.py), instead of starting a Python process per probe."""

from __future__ import annotations

import runpy

import pytest
from deploy_helpers import OVERLAYS, ROOT, by_name

# Deployment -> healthcheck.py's stage (its ENDPOINTS table holds the stage's port and paths)
HTTP_PROBED = {
    "platestream-detect": "detect",
    "platestream-enrich": "enrich",
    "platestream-sink-clickhouse": "sink",
    "platestream-sink-s3": "sink",
    "platestream-anomalies": "anomalies",
    "platestream-notify": "notify",
    "platestream-health": "health",
    "platestream-api": "api",
    "platestream-ingest": "ingest",
}
PORTS = runpy.run_path(str(ROOT / "deploy" / "docker" / "healthcheck.py"))["ENDPOINTS"]


@pytest.mark.parametrize("target", ["base", *(f"overlays/{o}" for o in OVERLAYS)])
def test_stage_probes_are_http_gets_on_the_stage_port(target: str) -> None:
    deployments = by_name(target, "Deployment")
    for name, stage in HTTP_PROBED.items():
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        _var, default_port, live_path, _ready = PORTS[stage]
        for probe in ("startupProbe", "livenessProbe"):
            spec = container[probe]
            assert "exec" not in spec, f"{target} {name}: {probe} still runs a command"
            assert spec["httpGet"]["path"] == live_path, f"{target} {name} {probe}"
            assert ports[spec["httpGet"]["port"]] == default_port, f"{target} {name} {probe}"
