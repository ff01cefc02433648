"""Each stage gets only the secrets it reads: the JWT secret only in the API, the upload-token
key in the API and ingest, the privacy subject key in the API and the sink, one Kafka user per
stage in production, and no stage takes a whole shared Secret."""

from __future__ import annotations

from typing import Any

import pytest
from deploy_helpers import COMPONENT_TARGETS, OVERLAYS, ROOT, by_name, compose, objects

TARGETS = ("base", *(f"overlays/{o}" for o in OVERLAYS), *COMPONENT_TARGETS)
CH = "PLATESTREAM_CLICKHOUSE_PASSWORD"
JWT = "PLATESTREAM_JWT_SECRET"
UPLOAD = "PLATESTREAM_UPLOAD_TOKEN_SECRET"
HOOK = "PLATESTREAM_NOTIFY_WEBHOOK_SECRET"
SUBJECT = "PLATESTREAM_PRIVACY_SUBJECT_KEY"
# owner -> keys of platestream-secrets it may read. Every stage's settings refuse the development
# ClickHouse password in production, so each gets that one; the JWT secret signs sessions (api
# only); the upload-token key signs (api) and verifies (ingest serve) upload tokens; notify
# signs webhooks; the privacy subject key names an erased plate by its HMAC, written by the API
# and matched by both sink deployments (the same key in all three).
NEEDS = {
    "platestream-api": {JWT, UPLOAD, SUBJECT, CH},
    "platestream-ingest": {UPLOAD, CH},
    "platestream-notify": {CH, HOOK},
    "platestream-sink-clickhouse": {SUBJECT, CH},
    "platestream-sink-s3": {SUBJECT, CH},
}
DEFAULT = {CH}
# the install's Jobs and the daily compaction of the search tables (ClickHouse only): they write
# no records, so the sealed component leaves them as they are
INIT_JOBS = {
    "platestream-topics-create",
    "platestream-db-migrate",
    "platestream-bucket",
    "platestream-compact",
}
# Secrets a stage may mount besides platestream-secrets (whole, by envFrom or volume).
OTHER = {
    "platestream-ingest": {"platestream-ingest-devices"},
    "platestream-ingest-cameras": {"platestream-camera-credentials"},
    "platestream-notify": {"platestream-route-secrets"},
    "platestream-ingest-mqtt": {"platestream-ingest-mqtt"},
}
KAFKA_STAGES = {
    "api",
    "ingest",
    "ingest-cameras",
    "detect",
    "enrich",
    "notify",
    "health",
    "sink-clickhouse",
    "sink-s3",
    "anomalies",
}
# scheduled jobs that write to Kafka, each with its own user in production too
KAFKA_CRONJOBS = {"overstays"}
# In production every platestream pod mounts the Strimzi cluster CA certificate (public, not a
# credential) to verify the brokers over TLS (test_deploy_kafka_tls.py); only its ca.crt.
KAFKA_CA = "platestream-cluster-ca-cert"


def secrets_of(pod: dict[str, Any]) -> tuple[set[str], set[tuple[str, str]]]:
    """(whole Secrets mounted, (secret, key) pairs read) by a pod's containers."""
    whole: set[str] = set()
    keys: set[tuple[str, str]] = set()
    for c in pod.get("containers", []) + pod.get("initContainers", []):
        for src in c.get("envFrom", []):
            if "secretRef" in src:
                whole.add(src["secretRef"]["name"])
        for env in c.get("env", []):
            ref = env.get("valueFrom", {}).get("secretKeyRef")
            if ref:
                keys.add((ref["name"], ref["key"]))
    for vol in pod.get("volumes", []):
        if "secret" in vol:
            whole.add(vol["secret"]["secretName"])
    return whole, keys


def platestream_pods(target: str) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for kind in ("Deployment", "Job", "CronJob"):
        for obj in objects(target, kind):
            name = obj["metadata"]["name"]
            spec = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
            if name.startswith("platestream-"):
                out.append((name, spec["template"]["spec"]))
    return out


@pytest.mark.parametrize("target", TARGETS)
def test_every_stage_mounts_only_the_secrets_it_needs(target: str) -> None:
    pods = platestream_pods(target)
    assert pods
    for name, pod in pods:
        whole, keys = secrets_of(pod)
        assert "platestream-secrets" not in whole, f"{name} takes every key of platestream-secrets"
        shared = {k for s, k in keys if s == "platestream-secrets"}
        needs = NEEDS.get(name, DEFAULT)
        if target == "components/sealed" and name not in INIT_JOBS:
            needs = needs | {SUBJECT}  # every stage seals: tests below
        assert shared == needs, f"{name} reads {sorted(shared)}"
        production = not (
            target == "base" or target.endswith("dev") or target.startswith("components")
        )
        allowed = OTHER.get(name, set()) | ({KAFKA_CA} if production else set())
        assert whole <= allowed, f"{name} mounts {sorted(whole)}"
        for vol in pod.get("volumes", []):
            if vol.get("secret", {}).get("secretName") == KAFKA_CA:
                assert vol["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}], name
        # Kafka: in production each stage's own user, never another's
        kafka = {s for s, k in keys if k == "password" and s.startswith("platestream")}
        stage = name.removeprefix("platestream-")
        if not production:
            assert not kafka, f"{name} has a Kafka password where the cluster has no SASL"
        elif stage in KAFKA_STAGES | KAFKA_CRONJOBS:
            assert kafka == {name}, f"{name} logs into Kafka with {sorted(kafka)}"
        elif name == "platestream-topics-create":
            assert kafka == {"platestream"}
        else:
            assert not kafka, name


@pytest.mark.parametrize("target", ["overlays/prod", "overlays/gpu"])
def test_each_stage_has_its_own_kafka_user(target: str) -> None:
    users = {u["metadata"]["name"] for u in objects(target, "KafkaUser")}
    seen: dict[str, str] = {}
    for dep in objects(target, "Deployment"):
        name = dep["metadata"]["name"]
        if name.removeprefix("platestream-") not in KAFKA_STAGES:
            continue
        env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
        user = env["PLATESTREAM_KAFKA_SASL_USERNAME"]["value"]
        password = env["PLATESTREAM_KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert user == name and password == {"name": name, "key": "password"}
        assert user in users, f"no KafkaUser {user}"
        assert user not in seen.values()
        seen[name] = user
    assert set(seen) == {f"platestream-{s}" for s in KAFKA_STAGES}
    for job in objects(target, "CronJob"):
        name = job["metadata"]["name"]
        if name.removeprefix("platestream-") not in KAFKA_CRONJOBS:
            continue  # the compaction talks to ClickHouse only
        (container,) = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
        env = {e["name"]: e for e in container["env"]}
        assert env["PLATESTREAM_KAFKA_SASL_USERNAME"]["value"] == name
        assert name in users, f"no KafkaUser {name}"
        seen[name] = name
    docs = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    for user in seen.values():
        assert f"`{user}`" in docs, f"docs/deploy.md must list the ACLs of {user}"


def test_compose_gives_the_jwt_secret_to_the_api_only() -> None:
    services = compose()["services"]
    holders = {n for n, s in services.items() if JWT in (s.get("environment") or {})}
    assert holders == {"api"}
    uploads = {n for n, s in services.items() if UPLOAD in (s.get("environment") or {})}
    assert uploads == {"api", "ingest"}
    hooks = {n for n, s in services.items() if HOOK in (s.get("environment") or {})}
    assert hooks == {"notify"}
    subjects = {
        n: s["environment"][SUBJECT]
        for n, s in services.items()
        if SUBJECT in (s.get("environment") or {})
    }
    assert set(subjects) == {"api", "sink"}
    assert len(set(subjects.values())) == 1, "the API and the sink must hash with the same key"


def test_compose_mosquitto_has_an_acl_and_device_logins() -> None:
    broker = compose()["services"]["mosquitto"]
    script = broker["command"][0]
    assert "/mosquitto/data/acl" in script and "/mosquitto/devices/passwd" in script
    assert any(v.startswith("./deploy/mosquitto/devices:") for v in broker["volumes"])
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    assert "acl_file /mosquitto/data/acl" in conf.splitlines()
    ignored = (ROOT / "deploy" / "mosquitto" / "devices" / ".gitignore").read_text()
    assert {"passwd", "acl"} <= set(ignored.split())


@pytest.mark.parametrize("target", TARGETS)
def test_the_api_and_the_sink_share_one_privacy_subject_key(target: str) -> None:
    """An erasure is found by HMAC(key, plate): the API and both sinks read the same Secret key."""
    refs = {}
    for name, pod in platestream_pods(target):
        for c in pod.get("containers", []):
            for env in c.get("env", []):
                if env["name"] == SUBJECT:
                    ref = env["valueFrom"]["secretKeyRef"]
                    refs[name] = (ref["name"], ref["key"])
    readers = {"platestream-api", "platestream-sink-clickhouse", "platestream-sink-s3"}
    if target == "components/sealed":  # every stage seals and opens with it
        readers = {n for n, _ in platestream_pods(target) if n not in INIT_JOBS}
    assert set(refs) == readers
    assert set(refs.values()) == {("platestream-secrets", SUBJECT)}


def test_sink_clickhouse_can_delete_images() -> None:
    """Its erasure loop deletes the images of erased rows: the S3 endpoint and keys, like sink-s3."""
    deployments = by_name("base", "Deployment")
    config = by_name("base", "ConfigMap")["platestream-config"]["data"]
    assert config["PLATESTREAM_S3_ENDPOINT"]
    s3 = {}
    for name in ("platestream-sink-clickhouse", "platestream-sink-s3"):
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert {"configMapRef": {"name": "platestream-config"}} in container["envFrom"], name
        env = {e["name"]: e.get("valueFrom", e.get("value")) for e in container["env"]}
        s3[name] = {k: v for k, v in env.items() if k.startswith("PLATESTREAM_S3_")}
    assert s3["platestream-sink-clickhouse"] == s3["platestream-sink-s3"]
    assert set(s3["platestream-sink-s3"]) >= {
        "PLATESTREAM_S3_ACCESS_KEY",
        "PLATESTREAM_S3_SECRET_KEY",
    }
    sink = compose()["services"]["sink"]["environment"]
    for key in (
        "PLATESTREAM_S3_ENDPOINT",
        "PLATESTREAM_S3_ACCESS_KEY",
        "PLATESTREAM_S3_SECRET_KEY",
    ):
        assert sink[key], key


def test_the_sealed_component_turns_sealing_on_in_every_stage_with_its_key_and_the_bucket() -> None:
    """components/sealed (docs/privacy.md, crypto-shredding): every stage that writes or reads
    records seals, with the subject key and S3 credentials for the key bucket; the install's
    Jobs are left alone; without the component no stage seals."""
    pods = dict(platestream_pods("components/sealed"))
    stages = {n for n in pods if n not in INIT_JOBS}
    assert "platestream-ingest-mqtt" in stages and "platestream-overstays" in stages
    for name, pod in pods.items():
        (container,) = pod["containers"]
        names = [e["name"] for e in container.get("env", [])]
        assert len(names) == len(set(names)), f"{name} sets a variable twice"
        env = {e["name"]: e for e in container.get("env", [])}
        if name in INIT_JOBS:
            assert "PLATESTREAM_PRIVACY_SEAL_TOPICS" not in env, name
            continue
        assert env["PLATESTREAM_PRIVACY_SEAL_TOPICS"]["value"] == "true", name
        key = env[SUBJECT]["valueFrom"]["secretKeyRef"]
        assert key == {"name": "platestream-secrets", "key": SUBJECT}, name
        for var in ("PLATESTREAM_S3_ACCESS_KEY", "PLATESTREAM_S3_SECRET_KEY"):
            assert env[var]["valueFrom"]["secretKeyRef"]["name"] == "platestream-minio-user"
    (tenant,) = objects("components/sealed", "Tenant")
    assert {"name": "platestream-subject-keys"} in tenant["spec"]["buckets"]
    for target in ("overlays/dev", "overlays/prod"):
        for name, pod in platestream_pods(target):
            env = {e["name"] for c in pod["containers"] for e in c.get("env", [])}
            assert "PLATESTREAM_PRIVACY_SEAL_TOPICS" not in env, (target, name)
