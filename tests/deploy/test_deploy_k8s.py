"""Render every Kustomize overlay and validate the objects offline.

Built-in kinds are validated against the Kubernetes OpenAPI JSON schemas that ship in the
`kubernetes-validate` package (strict: unknown fields fail). The operators' custom resources
(Strimzi, Altinity, MinIO, KEDA, Prometheus operator) have no offline schema package on PyPI,
so crd_schemas.py holds minimal structural schemas written from their documented CRDs: the
fields this project uses, their types and allowed values. Cross-object checks follow.
"""

from __future__ import annotations

import json
import runpy
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from crd_schemas import CRD_SCHEMAS
from deploy_helpers import (
    COMPONENT_TARGETS,
    K8S,
    OVERLAYS,
    ROOT,
    by_name,
    is_platestream_image,
    objects,
    pod_specs,
    render,
)

from platestream import topics as catalogue

K8S_VERSION = "1.33.0"
TARGETS = ("base", *(f"overlays/{o}" for o in OVERLAYS), *COMPONENT_TARGETS)
STAGES = {  # Deployment suffix -> (stage command, settings field holding its consumer group)
    "detect": ("detect", "detect_group_id"),
    "enrich": ("enrich", "enrich_group_id"),
    "sink-clickhouse": ("sink", "sink_group_clickhouse"),
    "sink-s3": ("sink", "sink_group_s3"),
}
# Stages whose consumer group must have one member (the clone detector sees every partition).
SINGLE_MEMBER = {"platestream-anomalies"}
# supervisor stage (platestream up) -> its Deployments
SUPERVISED = {
    "ingest": ["ingest"],
    "cameras": ["ingest-cameras"],
    "sink": ["sink-clickhouse", "sink-s3"],
}
REQUIRED_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)
# Secrets an operator creates before applying (docs/deploy.md lists them) or that an operator
# generates itself (Strimzi's User Operator writes one per KafkaUser).
EXTERNAL_SECRETS = {
    "platestream-secrets",
    "platestream-minio-user",
    "platestream-minio-env",
    "platestream-ingest-devices",
    "platestream-ingest-mqtt",
    "platestream-tls",
    "platestream-camera-credentials",
    "platestream-route-secrets",
}


@pytest.mark.parametrize("target", TARGETS)
def test_builtin_objects_match_kubernetes_schemas(target: str) -> None:
    checked = 0
    for doc in render(target):
        if doc["kind"] in CRD_SCHEMAS:
            continue
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(
                f"{target}: {doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}"
            ) from exc
        checked += 1
    assert checked > 40


@pytest.mark.parametrize("target", TARGETS)
def test_custom_resources_match_structural_schemas(target: str) -> None:
    for doc in render(target):
        schema = CRD_SCHEMAS.get(doc["kind"])
        if schema is None:
            continue
        api = doc["apiVersion"]
        assert api == schema["x-apiVersion"], f"{doc['kind']}: apiVersion {api}"
        errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(doc), key=str)
        assert not errors, f"{target}: {doc['kind']}/{doc['metadata']['name']}: " + "; ".join(
            f"{list(e.path)}: {e.message}" for e in errors[:5]
        )


def test_structural_schemas_reject_mistakes() -> None:
    """The hand-written CRD schemas are not vacuous: typical mistakes fail."""
    topic = by_name("base", "KafkaTopic")["anpr.frames.v1"]
    bad = {**topic, "spec": {**topic["spec"], "partitions": "6"}}
    assert list(jsonschema.Draft202012Validator(CRD_SCHEMAS["KafkaTopic"]).iter_errors(bad))
    so = objects("base", "ScaledObject")[0]
    bad = {
        **so,
        "spec": {**so["spec"], "triggers": [{"type": "kafka", "metadata": {"topic": "x"}}]},
    }
    assert list(jsonschema.Draft202012Validator(CRD_SCHEMAS["ScaledObject"]).iter_errors(bad))
    pool = objects("base", "KafkaNodePool")[0]
    bad = {**pool, "spec": {**pool["spec"], "roles": ["zookeeper"]}}
    assert list(jsonschema.Draft202012Validator(CRD_SCHEMAS["KafkaNodePool"]).iter_errors(bad))


@pytest.mark.parametrize("target", TARGETS)
def test_standard_labels_everywhere(target: str) -> None:
    for doc in render(target):
        labels = doc["metadata"].get("labels", {})
        missing = [k for k in REQUIRED_LABELS if k not in labels]
        assert not missing, f"{doc['kind']}/{doc['metadata']['name']} lacks {missing}"
        if doc["kind"] in ("Deployment", "Job"):
            pod_labels = doc["spec"]["template"]["metadata"]["labels"]
            assert "app.kubernetes.io/component" in pod_labels


@pytest.mark.parametrize("target", TARGETS)
def test_stage_deployments_are_production_ready(target: str) -> None:
    deployments = [
        d for d in objects(target, "Deployment") if d["metadata"]["name"].startswith("platestream-")
    ]
    stages = ["ingest", "ingest-cameras", "detect", "enrich", "sink-clickhouse", "sink-s3"]
    stages += ["notify", "health", "api", "anomalies"]
    if target.startswith("components/"):  # both render with the MQTT bridge
        stages.append("ingest-mqtt")
    assert {d["metadata"]["name"] for d in deployments} == {f"platestream-{s}" for s in stages}
    accounts = by_name(target, "ServiceAccount")
    pdbs = objects(target, "PodDisruptionBudget")
    for dep in deployments:
        name = dep["metadata"]["name"]
        pod = dep["spec"]["template"]["spec"]
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        (container,) = pod["containers"]
        assert is_platestream_image(container["image"]), name
        assert ":" in container["image"] and not container["image"].endswith(":latest"), name
        res = container["resources"]
        assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"], (
            name
        )
        assert container.get("livenessProbe") and container.get("startupProbe"), name
        ports = {p["name"] for p in container.get("ports", [])}
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            http = container.get(probe, {}).get("httpGet")
            if http:
                assert http["port"] in ports, f"{name}: {probe} on unknown port {http['port']}"
        if name in ("platestream-api", "platestream-ingest"):
            assert container["readinessProbe"]["httpGet"]["path"] == (
                "/ready" if name.endswith("api") else "/health"
            )
        assert pod["serviceAccountName"] in accounts, name
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} >= {
            "kubernetes.io/hostname"
        }
        budgets = [
            p
            for p in pdbs
            if all(pod_labels.get(k) == v for k, v in p["spec"]["selector"]["matchLabels"].items())
        ]
        if name in SINGLE_MEMBER:
            # one replica by design: maxUnavailable 1 would protect nothing, minAvailable 1
            # would block every node drain (deploy/k8s/base/app/anomalies.yaml)
            assert not budgets, f"{name}: a budget for a single-member stage"
        else:
            assert budgets, f"{name} has no PodDisruptionBudget"


@pytest.mark.parametrize("target", TARGETS)
def test_every_supervised_stage_is_deployed_and_the_clone_detector_once(target: str) -> None:
    from platestream.supervisor import STAGES as SUPERVISOR_STAGES

    deployments = by_name(target, "Deployment")
    for stage in SUPERVISOR_STAGES:
        for name in SUPERVISED.get(stage, [stage]):
            assert f"platestream-{name}" in deployments, f"{target}: no Deployment for {stage}"
    for name in SINGLE_MEMBER:
        dep = deployments[name]
        assert dep["spec"]["replicas"] == 1 and dep["spec"]["strategy"]["type"] == "Recreate"
        assert name not in by_name(target, "ScaledObject")
        assert name not in {
            h["spec"]["scaleTargetRef"]["name"] for h in objects(target, "HorizontalPodAutoscaler")
        }
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    jobs = by_name(target, "CronJob")
    assert set(jobs) == {"platestream-overstays", "platestream-compact"}
    for name, args in (
        ("platestream-overstays", ["investigate", "overstays", "--emit"]),
        ("platestream-compact", ["db", "compact"]),  # the search tables, daily (docs/deploy.md)
    ):
        job = jobs[name]
        (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        assert container["args"][: len(args)] == args
        assert job["spec"]["concurrencyPolicy"] == "Forbid"


@pytest.mark.parametrize("target", TARGETS)
def test_references_resolve(target: str) -> None:
    """ConfigMaps and Services referenced exist; Secrets exist or are documented as created by the operator."""
    configmaps = set(by_name(target, "ConfigMap"))
    secrets = (
        set(by_name(target, "Secret"))
        | EXTERNAL_SECRETS
        | {u for u in by_name(target, "KafkaUser")}
        # Strimzi's Cluster Operator writes each cluster's CA certificate (prod mounts it)
        | {f"{k}-cluster-ca-cert" for k in by_name(target, "Kafka")}
    )
    for owner, pod in pod_specs(target):
        for c in pod.get("containers", []) + pod.get("initContainers", []):
            for src in c.get("envFrom", []):
                if "configMapRef" in src:
                    assert src["configMapRef"]["name"] in configmaps, owner
                if "secretRef" in src:
                    assert src["secretRef"]["name"] in secrets, owner
            for env in c.get("env", []):
                ref = env.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["name"] in secrets, f"{owner}: secret {ref['name']}"
        for vol in pod.get("volumes", []):
            if "secret" in vol:
                assert vol["secret"]["secretName"] in secrets, owner
    docs = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for name in EXTERNAL_SECRETS:
        assert name in docs, f"docs/deploy.md must explain how to create Secret {name}"
    pods = [d["spec"]["template"]["metadata"]["labels"] for d in objects(target, "Deployment")]
    services = by_name(target, "Service")
    for svc in services.values():
        sel = svc["spec"]["selector"]
        assert any(all(p.get(k) == v for k, v in sel.items()) for p in pods), (
            f"Service {svc['metadata']['name']} selects nothing"
        )
    for ing in objects(target, "Ingress"):
        for rule in ing["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                backend = path["backend"]["service"]
                assert backend["name"] in services
                assert backend["port"]["name"] in {
                    p["name"] for p in services[backend["name"]]["spec"]["ports"]
                }


@pytest.mark.parametrize("target", TARGETS)
def test_autoscaling_matches_the_topic_catalogue(target: str) -> None:
    from services.detect.settings import DetectSettings
    from services.enrich.settings import EnrichSettings
    from services.sink.settings import SinkSettings

    defaults: dict[str, Any] = {}
    for cls in (EnrichSettings, SinkSettings, DetectSettings):
        defaults.update({k: f.default for k, f in cls.model_fields.items()})
    deployments = by_name(target, "Deployment")
    scaled = by_name(target, "ScaledObject")
    assert set(scaled) == {f"platestream-{s}" for s in STAGES}
    for name, so in scaled.items():
        stage = name.removeprefix("platestream-")
        assert so["spec"]["scaleTargetRef"]["name"] in deployments
        group_field = STAGES[stage][1]
        partitions = []
        for trig in so["spec"]["triggers"]:
            meta = trig["metadata"]
            assert trig["type"] == "kafka"
            assert meta["consumerGroup"] == defaults[group_field], (
                f"{name}: group {meta['consumerGroup']}"
            )
            assert meta["topic"] in catalogue.BY_NAME, f"{name}: unknown topic {meta['topic']}"
            partitions.append(catalogue.BY_NAME[meta["topic"]].partitions)
            assert int(meta["lagThreshold"]) > 0
        assert so["spec"]["maxReplicaCount"] <= min(partitions), (
            f"{name}: more replicas than partitions"
        )
    if target in ("overlays/prod", "overlays/gpu"):  # Kafka requires SCRAM there: KEDA too
        auths = set(by_name(target, "TriggerAuthentication"))
        for name, so in scaled.items():
            for trig in so["spec"]["triggers"]:
                assert trig.get("authenticationRef", {}).get("name") in auths, (
                    f"{name}: trigger without auth"
                )
    hpas = by_name(target, "HorizontalPodAutoscaler")
    assert {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()} == {
        "platestream-api",
        "platestream-ingest",
    }


def test_kafka_topics_are_generated_from_the_catalogue() -> None:
    gen = runpy.run_path(str(K8S / "tools" / "gen_kafka_topics.py"))
    committed = (K8S / "base" / "data" / "kafka-topics.yaml").read_text(encoding="utf-8")
    assert committed == gen["render"](), (
        "regenerate: python deploy/k8s/tools/gen_kafka_topics.py > deploy/k8s/base/data/kafka-topics.yaml"
    )
    topics = {t["spec"]["topicName"]: t for t in objects("base", "KafkaTopic")}
    assert set(topics) == {t.name for t in catalogue.ALL}
    for t in catalogue.ALL:
        spec = topics[t.name]["spec"]
        assert spec["partitions"] == t.partitions
        assert spec["config"]["cleanup.policy"] == ("compact" if t.compacted else "delete")
        assert topics[t.name]["metadata"]["labels"]["strimzi.io/cluster"] in by_name(
            "base", "Kafka"
        )
    assert {t["spec"]["replicas"] for t in objects("overlays/dev", "KafkaTopic")} == {1}
    assert {t["spec"]["replicas"] for t in objects("overlays/prod", "KafkaTopic")} == {3}


def test_monitoring_objects_are_generated_from_deploy_monitoring() -> None:
    gen = runpy.run_path(str(K8S / "tools" / "gen_monitoring.py"))
    for name, render_fn in gen["OUTPUTS"].items():
        committed = (K8S / "components" / "monitoring" / name).read_text(encoding="utf-8")
        assert committed == render_fn(), (
            f"regenerate: python deploy/k8s/tools/gen_monitoring.py ({name})"
        )
    assert objects("overlays/prod", "PrometheusRule") and objects("overlays/prod", "PodMonitor")


@pytest.mark.parametrize("target", TARGETS)
def test_network_policies_isolate_every_stage(target: str) -> None:
    policies = objects(target, "NetworkPolicy")
    deny = [p for p in policies if not p["spec"].get("ingress") and not p["spec"].get("egress")]
    assert deny and set(deny[0]["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    selector = deny[0]["spec"]["podSelector"]["matchLabels"]
    for owner, _pod in pod_specs(target):
        kind, name = owner.split("/")
        doc = by_name(target, kind)[name]
        labels = doc["spec"]["template"]["metadata"]["labels"]
        if name.startswith("platestream-"):
            assert all(labels.get(k) == v for k, v in selector.items()), (
                f"{owner} escapes the default deny"
            )
    kafka = objects(target, "Kafka")[0]
    peers = kafka["spec"]["kafka"]["listeners"][0]["networkPolicyPeers"]
    assert {"podSelector": {"matchLabels": selector}} in peers


def test_gpu_overlay_puts_only_detect_on_gpus() -> None:
    from services.detect import models
    from services.detect.settings import UltralyticsBackend

    for dep in objects("overlays/gpu", "Deployment"):
        (container,) = dep["spec"]["template"]["spec"]["containers"]
        gpu = container["resources"].get("limits", {}).get("nvidia.com/gpu")
        if dep["metadata"]["name"] == "platestream-detect":
            assert gpu == 1 and container["image"].endswith("-cuda")
            env = {e["name"]: e.get("value") for e in container["env"]}
            backend = json.loads(env["PLATESTREAM_DETECT_BACKEND"])
            assert backend["type"] == "ultralytics" and backend["device"] == "cuda:0"
            # The weights are the shipped plate detector at its place in the image's venv.
            shipped = models.SHIPPED["plate_pt"]
            assert (
                backend["weights"]
                == f"/opt/venv/lib/python3.11/site-packages/{shipped.package}/{shipped.relpath}"
            )
            # The rest of the backend is valid for the detect settings (weights: the local copy).
            UltralyticsBackend(**{**backend, "weights": models.shipped_path("plate_pt")})
        else:
            assert gpu is None, dep["metadata"]["name"]


def test_dev_overlay_is_small_and_only_dev_accepts_default_secrets() -> None:
    from platestream import settings as core

    dev_config = by_name("overlays/dev", "ConfigMap")["platestream-config"]["data"]
    assert dev_config["PLATESTREAM_ENV"] == "development"
    secret = by_name("overlays/dev", "Secret")["platestream-secrets"]
    assert secret["stringData" if "stringData" in secret else "data"]
    assert objects("overlays/dev", "KafkaNodePool")[0]["spec"]["replicas"] == 1
    assert not objects("overlays/dev", "ClickHouseKeeperInstallation")
    for target in ("overlays/prod", "overlays/gpu"):
        assert (
            by_name(target, "ConfigMap")["platestream-config"]["data"]["PLATESTREAM_ENV"]
            == "production"
        )
        assert "platestream-secrets" not in by_name(target, "Secret"), (
            "prod must not ship generated secrets"
        )
    dev = (K8S / "overlays" / "dev" / "kustomization.yaml").read_text()
    assert core.DEV_JWT_SECRET in dev
    assert f"PLATESTREAM_PRIVACY_SUBJECT_KEY={core.DEV_PRIVACY_SUBJECT_KEY}" in dev
