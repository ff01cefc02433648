"""Every PLATESTREAM_* variable that the deployment files set is a real setting.

The real settings are the fields of CommonSettings and of every subclass found by importing
platestream.settings and each services/<stage>/settings.py; env name = prefix + field name.
A misspelt variable would otherwise be ignored silently (extra="ignore") and the default used.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from deploy_helpers import (
    COMPONENT_TARGETS,
    ENV_NAME,
    ROOT,
    by_name,
    compose,
    is_platestream_image,
    pod_specs,
    read_env_file,
    settings_classes_found,
    settings_env_names,
)

TARGETS = ("base", "overlays/dev", "overlays/prod", "overlays/gpu", *COMPONENT_TARGETS)
FILES = [
    ROOT / "Dockerfile",
    ROOT / "docker-compose.yml",
    ROOT / ".env.example",
    *sorted((ROOT / "deploy").rglob("*.yaml")),
    *sorted((ROOT / "deploy").rglob("*.py")),
    *sorted((ROOT / "deploy").rglob("*.env")),
]


def unknown(names: set[str]) -> list[str]:
    return sorted(
        n for n in names if n.startswith("PLATESTREAM_") and n not in settings_env_names()
    )


def test_settings_classes_are_all_found() -> None:
    found = settings_classes_found()
    for expected in (
        "CommonSettings",
        "IngestSettings",
        "DetectSettings",
        "EnrichSettings",
        "NotifySettings",
        "HealthSettings",
        "SinkSettings",
        "ApiSettings",
    ):
        assert any(f.endswith(f".{expected}") for f in found), f"{expected} not found among {found}"
    assert "PLATESTREAM_KAFKA_BOOTSTRAP" in settings_env_names()
    assert "PLATESTREAM_KAFKA_BOOTSTRAPS" not in settings_env_names()


def test_compose_environment_names_are_settings() -> None:
    names: set[str] = set()
    for svc in compose()["services"].values():
        if "platestream" in str(svc.get("image", "")):
            names |= set(svc.get("environment", {}))
    assert len(names) > 20
    assert not unknown(names), f"not a setting: {unknown(names)}"


@pytest.mark.parametrize("target", TARGETS)
def test_kubernetes_env_names_are_settings(target: str) -> None:
    names: set[str] = set()
    for _owner, pod in pod_specs(target):
        for c in pod["containers"]:
            if is_platestream_image(c["image"]):
                names |= {e["name"] for e in c.get("env", [])}
    for name, cm in by_name(target, "ConfigMap").items():
        if name.startswith("platestream-") and name != "platestream-grafana-dashboard":
            names |= set(cm.get("data", {}))
    secret = by_name(target, "Secret").get("platestream-secrets")
    if secret:
        names |= set(secret.get("data", {})) | set(secret.get("stringData", {}))
    assert len(names) > 15
    assert not unknown(names), f"not a setting: {unknown(names)}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_platestream_name_in_deploy_files_is_a_setting(path: Path) -> None:
    """A textual sweep: catches names in shell snippets, comments and Dockerfile ENV too."""
    names = set(ENV_NAME.findall(path.read_text(encoding="utf-8")))
    # Prose placeholders (PLATESTREAM_S3_*, PLATESTREAM_<STAGE>_...) end in "_": not variables.
    names = {n for n in names if not n.endswith("_")}
    assert not unknown(names), f"{path.name}: not a setting: {unknown(names)}"


def test_env_example_names_are_settings_or_compose_variables() -> None:
    env = read_env_file(ROOT / ".env.example")
    text = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    for name in env:
        assert name.startswith("PLATESTREAM_") or f"${{{name}" in text, f"{name} is used nowhere"
    assert not unknown({n for n in env if n})


def test_sweep_detects_a_misspelt_name() -> None:
    assert unknown({"PLATESTREAM_CLICKHOUSE_PASWORD"}) == ["PLATESTREAM_CLICKHOUSE_PASWORD"]
