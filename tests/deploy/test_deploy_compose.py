"""docker-compose.yml against the Compose Specification, plus the checks compose itself skips.

The Compose Specification is checked with `compose-spec` (Python bindings of the compose_spec
Rust crate, a typed, strict implementation of the specification: unknown keys, wrong types,
bad durations, ports and depends_on conditions are errors). It reads the file after YAML
merge keys and variable interpolation, as `docker compose config` does, with .env.example's values.
"""

from __future__ import annotations

import json

import pytest
from compose_spec import PyCompose
from deploy_helpers import ROOT, InterpolationError, compose, interpolate, read_env_file

DATA_SERVICES = {"kafka", "schema-registry", "clickhouse", "minio", "mosquitto"}
STAGES = {"ingest", "detect", "enrich", "sink", "notify", "health", "api", "anomalies"}
SECRETS = (
    "PLATESTREAM_JWT_SECRET",
    "PLATESTREAM_PRIVACY_SUBJECT_KEY",
    "PLATESTREAM_CLICKHOUSE_PASSWORD",
    "PLATESTREAM_S3_SECRET_KEY",
    "PLATESTREAM_NOTIFY_WEBHOOK_SECRET",
    "MQTT_PASSWORD",
)


def test_compose_file_follows_the_compose_specification() -> None:
    parsed = PyCompose.from_json(json.dumps(compose()))
    extra = {"init", "ingest-mqtt", "ingest-cameras", "overstays", "compact"}
    assert set(parsed.service_names()) == DATA_SERVICES | STAGES | extra


def test_the_spec_check_rejects_mistakes() -> None:
    doc = compose()
    doc["services"]["api"]["healthcheck"]["interval"] = "soon"
    with pytest.raises(ValueError, match="duration `soon`"):
        PyCompose.from_json(json.dumps(doc))
    doc = compose()
    doc["services"]["api"]["restart_policy"] = "always"
    with pytest.raises(ValueError):
        PyCompose.from_json(json.dumps(doc))


def test_every_service_is_healthchecked_and_waits_for_what_it_needs() -> None:
    services = compose()["services"]
    for name, svc in services.items():
        for dep, cond in svc.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            expected = "service_completed_successfully" if dep == "init" else "service_healthy"
            assert cond["condition"] == expected, f"{name} -> {dep}"
        if name != "init":
            test = svc["healthcheck"]["test"]
            assert test and test[0] in ("CMD", "CMD-SHELL"), name
    assert services["ingest-mqtt"]["command"] == ["ingest", "mqtt"]
    assert services["ingest-mqtt"]["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    for stage in STAGES:
        deps = services[stage]["depends_on"]
        assert {"kafka", "clickhouse", "minio", "init"} <= set(deps), stage
        assert services[stage]["healthcheck"]["test"] == [
            "CMD",
            "python",
            "/opt/platestream/healthcheck.py",
        ]
        assert services[stage].get("user") is None, "the image's non-root USER applies"
        assert services[stage]["read_only"] is True
    assert set(services["init"]["depends_on"]) >= {"kafka", "clickhouse", "minio"}
    init = " ".join(services["init"]["command"])
    for step in ("platestream topics create", "platestream db migrate", "ensure_bucket.py"):
        assert step in init


def test_stage_commands_are_the_cli_commands() -> None:
    services = compose()["services"]
    assert services["ingest"]["command"] == ["ingest", "serve"]
    for stage in STAGES - {"ingest"}:
        assert services[stage]["command"] == [stage]


def test_named_volumes_for_all_state() -> None:
    doc = compose()
    declared = set(doc["volumes"])
    for name in ("kafka", "clickhouse", "minio", "mosquitto"):
        mounts = doc["services"][name]["volumes"]
        named = {m.split(":", 1)[0] for m in mounts if not m.startswith(".")}
        assert named and named <= declared, name


def test_secrets_have_no_defaults_and_ports_bind_locally_by_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for name in SECRETS:
        assert f"${{{name}:?" in text, f"{name} must be required (${{{name}:?...}})"
        assert f"${{{name}:-" not in text, f"{name} must have no default"
    env = read_env_file(ROOT / ".env.example")
    for name in SECRETS:
        assert env[name] == "CHANGE-ME", f".env.example must not carry a usable {name}"
    assert env["PLATESTREAM_ENV"] == "production"
    missing = dict(env)
    del missing["PLATESTREAM_JWT_SECRET"]
    with pytest.raises(InterpolationError, match="PLATESTREAM_JWT_SECRET"):
        compose(missing)
    for svc in compose()["services"].values():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), port


def test_interpolation_follows_compose_rules() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert interpolate("${A}-${B:-x}-${EMPTY:-d}-${EMPTY-d}-$$A-$A", env) == "1-x-d--$A-1"
    with pytest.raises(InterpolationError):
        interpolate("${EMPTY:?need it}", env)
    assert interpolate("${EMPTY?fine}", env) == ""


def test_mosquitto_config_requires_authentication() -> None:
    conf = (
        (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8").splitlines()
    )
    lines = {
        line.split(" ", 1)[0]: line.split(" ", 1)[1]
        for line in conf
        if line and not line.startswith("#")
    }
    assert lines["allow_anonymous"] == "false"
    assert lines["password_file"] == "/mosquitto/data/passwd"
    assert compose()["services"]["mosquitto"]["volumes"][0].startswith(
        "./deploy/mosquitto/mosquitto.conf:"
    )


def test_one_clone_detector_and_the_overstay_loop() -> None:
    services = compose()["services"]
    assert (
        "deploy" not in services["anomalies"]
        or services["anomalies"]["deploy"].get("replicas", 1) == 1
    )
    loop = services["overstays"]["command"]
    assert loop[:4] == ["investigate", "overstays", "--emit", "--quiet"]
    assert int(loop[loop.index("--every-s") + 1]) > 0
    assert int(loop[loop.index("--limit-s") + 1]) == 14_400  # OVERSTAY_LIMIT_S's default
    compact = services["compact"]["command"]
    assert (
        compact[:2] == ["db", "compact"] and int(compact[compact.index("--every-s") + 1]) == 86_400
    )
