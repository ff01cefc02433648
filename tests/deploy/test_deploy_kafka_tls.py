"""Kafka TLS in production (issue 20): in the rendered prod and gpu overlays the brokers offer
only a SCRAM-SHA-512 listener over TLS, and every container of every platestream stage, the
Schema Registry and KEDA's lag scaler reach it on that port, trusting the Strimzi cluster CA
mounted read-only from `<cluster>-cluster-ca-cert`. The dev overlay stays plaintext.

Offline: this checks what the manifests say; no TLS handshake is made (the local broker has no
TLS; tests/core/test_kafka_security.py checks that the clients accept these settings)."""

from __future__ import annotations

import base64
import posixpath
from typing import Any

import pytest
from deploy_helpers import by_name, is_platestream_image, objects

from platestream.settings import CommonSettings

PROD = ("overlays/prod", "overlays/gpu")
PREFIX = "PLATESTREAM_"


def kafka(target: str) -> dict[str, Any]:
    (cluster,) = objects(target, "Kafka")
    return cluster


def tls_listener(target: str) -> dict[str, Any]:
    """The one client listener of the production cluster, checked to be TLS + SCRAM."""
    (listener,) = kafka(target)["spec"]["kafka"]["listeners"]
    return listener


def ca_secret(target: str) -> str:
    return f"{kafka(target)['metadata']['name']}-cluster-ca-cert"


def bootstrap_ok(target: str, servers: str) -> bool:
    """Every bootstrap address is the cluster's bootstrap Service on the TLS listener's port."""
    want = f"{kafka(target)['metadata']['name']}-kafka-bootstrap:{tls_listener(target)['port']}"
    hosts = [h.strip().split("://", 1)[-1] for h in servers.split(",")]
    return bool(hosts) and all(h == want for h in hosts)


def workloads(target: str) -> list[tuple[str, dict[str, Any]]]:
    """(kind/name, pod spec) of every Deployment, Job and CronJob running the platestream image."""
    out = []
    for kind in ("Deployment", "Job", "CronJob"):
        for obj in objects(target, kind):
            spec = obj["spec"]["jobTemplate"]["spec"] if kind == "CronJob" else obj["spec"]
            pod = spec["template"]["spec"]
            if any(is_platestream_image(c["image"]) for c in pod["containers"]):
                out.append((f"{kind}/{obj['metadata']['name']}", pod))
    return out


def container_env(target: str, container: dict[str, Any]) -> dict[str, Any]:
    """What the container sees: its ConfigMaps (envFrom, in order), then its own env entries
    (a literal value, or the valueFrom reference)."""
    maps = by_name(target, "ConfigMap")
    env: dict[str, Any] = {}
    for src in container.get("envFrom", []):
        if "configMapRef" in src:
            data = maps[src["configMapRef"]["name"]].get("data", {})
            env.update({src.get("prefix", "") + k: v for k, v in data.items()})
    for entry in container.get("env", []):
        env[entry["name"]] = entry.get("value", entry.get("valueFrom"))
    return env


def mounted_ca(
    target: str, pod: dict[str, Any], container: dict[str, Any], path: str
) -> tuple[bool, str]:
    """Whether `path` is the file `ca.crt` of the cluster CA Secret, mounted read-only."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        directory = mount["mountPath"].rstrip("/")
        if posixpath.dirname(path) != directory:
            continue
        secret = volumes[mount["name"]].get("secret")
        if not secret or secret["secretName"] != ca_secret(target):
            return False, f"{path} is not from Secret {ca_secret(target)}"
        if not mount.get("readOnly"):
            return False, f"{mount['mountPath']} is writable"
        items = {i["path"]: i["key"] for i in secret.get("items", [])}
        key = items.get(posixpath.basename(path)) if items else posixpath.basename(path)
        if key != "ca.crt":
            return False, f"{path} is key {key!r} of {ca_secret(target)}, not ca.crt"
        return True, ""
    return False, f"nothing is mounted at {posixpath.dirname(path)}"


@pytest.mark.parametrize("target", PROD)
def test_prod_kafka_offers_only_scram_over_tls(target: str) -> None:
    listener = tls_listener(target)
    assert listener["tls"] is True, listener
    assert listener["authentication"] == {"type": "scram-sha-512"}
    assert listener["port"] == 9093 and listener["type"] == "internal"
    peers = listener["networkPolicyPeers"]
    for app in ("platestream", "schema-registry"):
        assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": app}}} in peers
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}} in peers


@pytest.mark.parametrize("target", PROD)
def test_every_stage_container_uses_sasl_ssl_with_the_mounted_cluster_ca(target: str) -> None:
    pods = workloads(target)
    names = {owner for owner, _ in pods}
    for stage in ("api", "ingest", "detect", "enrich", "notify", "sink-clickhouse", "anomalies"):
        assert f"Deployment/platestream-{stage}" in names
    assert {"CronJob/platestream-overstays", "Job/platestream-topics-create"} <= names
    for owner, pod in pods:
        for container in pod["containers"] + pod.get("initContainers", []):
            where = f"{owner} container {container['name']}"
            env = container_env(target, container)
            assert env.get(f"{PREFIX}KAFKA_SECURITY_PROTOCOL") == "SASL_SSL", where
            assert env.get(f"{PREFIX}KAFKA_SASL_MECHANISM") == "SCRAM-SHA-512", where
            assert bootstrap_ok(target, env.get(f"{PREFIX}KAFKA_BOOTSTRAP", "")), (
                f"{where}: bootstrap {env.get(f'{PREFIX}KAFKA_BOOTSTRAP')}"
            )
            assert env.get(f"{PREFIX}KAFKA_SSL_CHECK_HOSTNAME", "true") == "true", where
            ca = env.get(f"{PREFIX}KAFKA_SSL_CA_LOCATION")
            assert isinstance(ca, str) and ca.startswith("/"), f"{where}: CA {ca!r}"
            ok, why = mounted_ca(target, pod, container, ca)
            assert ok, f"{where}: {why}"
            # The stages' own settings accept the combination and hand it to librdkafka.
            kafka_env = {
                k.removeprefix(PREFIX).lower(): v
                for k, v in env.items()
                if k.startswith(f"{PREFIX}KAFKA_") and isinstance(v, str)
            }
            conf = CommonSettings(**kafka_env, kafka_sasl_password="x").kafka_common()
            assert conf["security.protocol"] == "SASL_SSL" and conf["ssl.ca.location"] == ca
            assert conf["ssl.endpoint.identification.algorithm"] == "https"


@pytest.mark.parametrize("target", PROD)
def test_schema_registry_stores_its_schemas_over_tls(target: str) -> None:
    registry = by_name(target, "Deployment")["schema-registry"]
    pod = registry["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    env = container_env(target, container)
    servers = env["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"]
    assert all(s.startswith("SASL_SSL://") for s in servers.split(","))
    assert bootstrap_ok(target, servers), servers
    assert env["SCHEMA_REGISTRY_KAFKASTORE_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["SCHEMA_REGISTRY_KAFKASTORE_SASL_MECHANISM"] == "SCRAM-SHA-512"
    assert env["SCHEMA_REGISTRY_KAFKASTORE_SSL_TRUSTSTORE_TYPE"] == "PEM"
    ok, why = mounted_ca(
        target, pod, container, env["SCHEMA_REGISTRY_KAFKASTORE_SSL_TRUSTSTORE_LOCATION"]
    )
    assert ok, why


@pytest.mark.parametrize("target", PROD)
def test_keda_reads_lag_over_tls_with_the_cluster_ca(target: str) -> None:
    secrets = by_name(target, "Secret")
    for name, so in by_name(target, "ScaledObject").items():
        for trig in so["spec"]["triggers"]:
            assert bootstrap_ok(target, trig["metadata"]["bootstrapServers"]), name
            assert trig["authenticationRef"]["name"] == "platestream-kafka", name
    auth = by_name(target, "TriggerAuthentication")["platestream-kafka"]
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert refs["ca"] == (ca_secret(target), "ca.crt")
    assert refs["password"] == ("keda", "password")

    def literal(ref: tuple[str, str]) -> str:
        secret = secrets[ref[0]]  # generated by the overlay: not secret
        if ref[1] in secret.get("stringData", {}):
            return str(secret["stringData"][ref[1]])
        return base64.b64decode(secret["data"][ref[1]]).decode()

    assert literal(refs["tls"]) == "enable"
    assert literal(refs["sasl"]) == "scram_sha512"
    assert literal(refs["username"]) == "keda"


@pytest.mark.parametrize("target", PROD)
def test_network_policies_let_the_stages_reach_only_the_tls_port(target: str) -> None:
    port = tls_listener(target)["port"]
    to_kafka = []
    for policy in objects(target, "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            if any(
                peer.get("podSelector", {}).get("matchLabels", {}).get("strimzi.io/kind") == "Kafka"
                for peer in rule.get("to", [])
            ):
                to_kafka.extend(p["port"] for p in rule.get("ports", []))
    assert to_kafka == [port], f"egress to the brokers on {to_kafka}"


def test_dev_stays_plaintext() -> None:
    (listener,) = kafka("overlays/dev")["spec"]["kafka"]["listeners"]
    assert listener["tls"] is False and "authentication" not in listener
    config = by_name("overlays/dev", "ConfigMap")["platestream-config"]["data"]
    assert config["PLATESTREAM_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT"
    assert "PLATESTREAM_KAFKA_SSL_CA_LOCATION" not in config
