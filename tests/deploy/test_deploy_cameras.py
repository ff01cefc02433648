"""The camera manager in docker-compose.yml and Kubernetes: replicas, disruption budget, metrics
port scraped and probed, camera credentials read-only, egress to cameras."""

from __future__ import annotations

import runpy

from deploy_helpers import ROOT, by_name, compose, objects

from services.ingest.cli import app as ingest_app
from services.ingest.settings import IngestSettings

PORT = IngestSettings().ingest_cameras_metrics_port


def test_compose_runs_the_camera_manager_with_the_apis_secret_store() -> None:
    services = compose()["services"]
    mgr, api = services["ingest-cameras"], services["api"]
    assert mgr["command"] == ["ingest", "cameras"]
    commands = {c.name or c.callback.__name__ for c in ingest_app.registered_commands if c.callback}
    assert "cameras" in commands
    assert mgr["environment"]["PLATESTREAM_INGEST_CAMERAS_METRICS_PORT"] == str(PORT)
    (mount,) = mgr["volumes"]
    volume, path, mode = mount.split(":")
    assert mode == "ro" and f"{volume}:/var/lib/platestream" in api["volumes"]
    assert mgr["environment"]["PLATESTREAM_INGEST_SECRETS_DIR"] == f"{path}/secrets"
    assert mgr["depends_on"]["api"]["condition"] == "service_healthy"
    assert volume in compose()["volumes"]


def test_kubernetes_camera_manager_has_replicas_a_pdb_and_a_probed_metrics_port() -> None:
    dep = by_name("base", "Deployment")["platestream-ingest-cameras"]
    assert dep["spec"]["replicas"] >= 2
    pod = dep["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["args"] == ["ingest", "cameras"]
    assert {p["containerPort"] for p in container["ports"]} == {PORT}
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(PORT)
    assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "metrics"}
    env = {e["name"]: e.get("value") for e in container["env"]}
    secrets = next(m for m in container["volumeMounts"] if m["name"] == "camera-secrets")
    assert secrets["readOnly"] and env["PLATESTREAM_INGEST_SECRETS_DIR"] == secrets["mountPath"]
    labels = pod["metadata"]["labels"]
    (pdb,) = [
        p
        for p in objects("base", "PodDisruptionBudget")
        if all(labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
    ]
    assert pdb["spec"].get("maxUnavailable") == 1 or pdb["spec"].get("minAvailable") == 1
    policies = objects("base", "NetworkPolicy")
    scraped = {
        p["port"]
        for pol in policies
        if pol["metadata"]["name"] == "platestream-ingress-from-monitoring"
        for rule in pol["spec"]["ingress"]
        for p in rule["ports"]
    }
    assert PORT in scraped
    egress = by_name("base", "NetworkPolicy")["platestream-ingest-cameras-egress"]
    assert (
        egress["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        == (labels["app.kubernetes.io/component"])
    )
    assert 554 in {p["port"] for rule in egress["spec"]["egress"] for p in rule["ports"]}


def test_healthcheck_probes_the_camera_manager_port() -> None:
    mod = runpy.run_path(str(ROOT / "deploy" / "docker" / "healthcheck.py"))
    assert mod["url_for"]("ingest", False, {}, "cameras") == f"http://127.0.0.1:{PORT}/health"
    env = {"PLATESTREAM_INGEST_CAMERAS_METRICS_PORT": "9999"}
    assert mod["url_for"]("ingest", False, env, "cameras") == "http://127.0.0.1:9999/health"
    assert mod["url_for"]("ingest", False, {}) == "http://127.0.0.1:8080/health"
