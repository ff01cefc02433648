"""Shared helpers of the deployment tests: render overlays, read compose with .env interpolation,
collect the real settings' env names. Everything runs offline."""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod", "gpu")
IMAGE_BASENAME = "platestream"
ENV_NAME = re.compile(r"\bPLATESTREAM_[A-Z0-9_]+\b")


def tool(name: str) -> str:
    """A binary from the project's venv (installed by the dev extra), else from PATH."""
    venv_bin = Path(sys.executable).parent / name
    if venv_bin.is_file():
        return str(venv_bin)
    found = shutil.which(name)
    if found is None:
        raise AssertionError(f"{name} not found: install the dev extra (pip install -e '.[dev]')")
    return found


# Optional components are rendered on top of the dev overlay by a throw-away overlay: target ->
# (overlay, the components before it). The sealed component goes last, over every stage.
COMPONENT_TARGETS = {
    "components/ingest-mqtt": ("overlays/dev", ()),
    "components/sealed": ("overlays/dev", ("components/ingest-mqtt",)),
}


@cache
def render(target: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize` of deploy/k8s/<target> (base, overlays/<name> or an optional component)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = K8S / target
        if target in COMPONENT_TARGETS:
            path = Path(tmp)
            (path / "kustomization.yaml").write_text(
                yaml.safe_dump(
                    {
                        "apiVersion": "kustomize.config.k8s.io/v1beta1",
                        "kind": "Kustomization",
                        "resources": [os.path.relpath(K8S / COMPONENT_TARGETS[target][0], tmp)],
                        "components": [
                            os.path.relpath(K8S / c, tmp)
                            for c in (*COMPONENT_TARGETS[target][1], target)
                        ],
                    }
                )
            )
        out = subprocess.run(
            [tool("kubectl"), "kustomize", str(path)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert out.returncode == 0, f"kustomize build {target} failed:\n{out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def objects(target: str, kind: str) -> list[dict[str, Any]]:
    return [d for d in render(target) if d["kind"] == kind]


def by_name(target: str, kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in objects(target, kind)}


def pod_specs(target: str) -> list[tuple[str, dict[str, Any]]]:
    """(object name, pod spec) of every Deployment and Job."""
    return [
        (f"{d['kind']}/{d['metadata']['name']}", d["spec"]["template"]["spec"])
        for d in render(target)
        if d["kind"] in ("Deployment", "Job", "StatefulSet", "DaemonSet")
    ]


def is_platestream_image(image: str) -> bool:
    name = image.rsplit("/", 1)[-1].split(":", 1)[0].split("@", 1)[0]
    return name in (IMAGE_BASENAME, f"{IMAGE_BASENAME}-cuda")


# ---------------------------------------------------------------- compose


_INTERP = re.compile(r"\$(?:\$|\{(?P<braced>[^}]*)\}|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))")


class InterpolationError(ValueError):
    """A required variable (${VAR:?msg}) is missing, as `docker compose` would refuse."""


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose-file interpolation: $VAR, ${VAR}, ${VAR:-d}, ${VAR-d}, ${VAR:?e}, ${VAR?e}, $$."""

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        expr = m.group("braced") if m.group("braced") is not None else m.group("plain")
        for op in (":-", ":?", "-", "?"):
            if op in expr:
                name, arg = expr.split(op, 1)
                value = env.get(name)
                if op == ":-":
                    return value if value else arg
                if op == "-":
                    return value if value is not None else arg
                if (op == ":?" and not value) or (op == "?" and value is None):
                    raise InterpolationError(f"{name}: {arg}")
                return value or ""
        return env.get(expr, "")

    return _INTERP.sub(sub, text)


def read_env_file(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            env[key.strip()] = value.strip()
    return env


def compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml as compose reads it: YAML (anchors, merge keys), then interpolation."""
    raw = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
    env = read_env_file(ROOT / ".env.example") if env is None else env

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str):
            return interpolate(node, env)
        return node

    return walk(raw)


# ---------------------------------------------------------------- settings


@lru_cache(maxsize=1)
def settings_env_names() -> frozenset[str]:
    """PLATESTREAM_* names of every field of CommonSettings and of every stage's settings class."""
    import services
    from platestream.settings import CommonSettings

    for info in pkgutil.walk_packages(services.__path__, "services."):
        if info.name.endswith(".settings"):
            importlib.import_module(info.name)
    classes: list[type[CommonSettings]] = [CommonSettings]
    stack: list[type[CommonSettings]] = [CommonSettings]
    while stack:
        for sub in stack.pop().__subclasses__():
            if sub not in classes:
                classes.append(sub)
                stack.append(sub)
    names = set()
    for cls in classes:
        prefix = cls.model_config.get("env_prefix", "")
        for field in cls.model_fields:
            names.add(f"{prefix}{field}".upper())
    return frozenset(names)


def settings_classes_found() -> list[str]:
    from platestream.settings import CommonSettings

    settings_env_names()
    found, stack = [], [CommonSettings]
    while stack:
        cls = stack.pop()
        found.append(f"{cls.__module__}.{cls.__name__}")
        stack.extend(cls.__subclasses__())
    return found
