"""Helpers of scripts/wheel_smoke.sh, run with the project's Python (it reads that environment).

    wheel_env.py closure [EXTRA ...]         the distributions platestream needs, with these extras
    wheel_env.py link SITE_PACKAGES [EXTRA]  link exactly that closure into a fresh venv (offline)
    wheel_env.py sizes                       installed size of each variant's dependencies
    wheel_env.py imports                     import every module of the installed package

``link`` is the offline stand-in for ``pip install`` from an index: each distribution of the
closure is symlinked, top-level entry by top-level entry (from its RECORD), from this environment
into the fresh venv's site-packages, so the fresh venv sees those distributions and nothing else
(no dev servers, no ML packages unless asked, no editable checkout).
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import json
import pkgutil
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "runtime (no extra)": (),
    "runtime + ml": ("ml",),
    "local (dev servers)": ("local",),
    "make install (dev, ml, local)": ("dev", "ml", "local"),
}


def _requirements(dist: md.Distribution, extras: set[str]) -> list[Requirement]:
    out = []
    for text in dist.requires or []:
        req = Requirement(text)
        wanted = req.marker is None or any(
            req.marker.evaluate({"extra": extra}) for extra in (extras or {""})
        )
        if wanted:
            out.append(req)
    return out


def _declared(extras: tuple[str, ...]) -> list[Requirement]:
    """platestream's own requirements from pyproject.toml (the installed editable metadata may be
    older than the checkout), markers evaluated for this interpreter."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    texts = list(project["dependencies"])
    for extra in extras:
        texts += project["optional-dependencies"][extra]
    reqs = [Requirement(t) for t in texts]
    return [r for r in reqs if r.marker is None or r.marker.evaluate()]


def closure(extras: tuple[str, ...] = ()) -> dict[str, md.Distribution]:
    """Canonical name -> installed distribution, for platestream's requirements (with extras)."""
    found: dict[str, md.Distribution] = {}
    todo: list[tuple[str, set[str]]] = [(str(r.name), set(r.extras)) for r in _declared(extras)]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, req_extras = todo.pop()
        key = (canonicalize_name(name), frozenset(req_extras))
        if key in seen:
            continue
        seen.add(key)
        try:
            dist = md.distribution(name)
        except md.PackageNotFoundError:
            print(f"not installed here: {name}", file=sys.stderr)
            continue
        found[canonicalize_name(name)] = dist
        todo.extend((str(r.name), set(r.extras)) for r in _requirements(dist, req_extras))
    return found


def _top_entries(dist: md.Distribution) -> set[str]:
    return {
        Path(str(f)).parts[0]
        for f in dist.files or []
        if not str(f).startswith("..") and not str(f).startswith("/")
    }


def _size(dist: md.Distribution) -> int:
    return sum(f.size or 0 for f in dist.files or [] if not str(f).startswith(".."))


def model_packages() -> dict[str, md.Distribution]:
    """The packages that only carry model files (installed with --no-deps, as in the image)."""
    names = [
        line.split("==")[0].strip()
        for line in (ROOT / "requirements-models.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    return {canonicalize_name(n): md.distribution(n) for n in names}


def link(site: Path, extras: tuple[str, ...]) -> None:
    linked = 0
    dists = {**closure(extras), **model_packages()}
    for dist in dists.values():
        base = Path(str(dist.locate_file("")))
        for entry in sorted(_top_entries(dist)):
            target = site / entry
            if target.exists() or target.is_symlink():
                continue  # a namespace directory another distribution already brought
            target.symlink_to(base / entry)
            linked += 1
    print(f"linked {linked} entries of {len(dists)} distributions into {site}")


def sizes() -> dict[str, dict[str, float]]:
    out = {}
    for label, extras in VARIANTS.items():
        dists = closure(extras)
        out[label] = {
            "distributions": len(dists),
            "MiB": round(sum(_size(d) for d in dists.values()) / 2**20, 1),
        }
    models = model_packages()
    out["model packages (requirements-models.txt, --no-deps)"] = {
        "distributions": len(models),
        "MiB": round(sum(_size(d) for d in models.values()) / 2**20, 1),
    }
    return out


# Modules that need the ml extra (torch), which a runtime install leaves out on purpose: the
# recogniser's training code (`platestream models train`); the stages read its ONNX export.
ML_EXTRA_ONLY = ("services.detect.train.",)


def imports() -> list[str]:
    """Import every module of the installed platestream and services packages; return failures."""
    failed = []
    for package in ("platestream", "services"):
        pkg = importlib.import_module(package)
        for info in pkgutil.walk_packages(pkg.__path__, f"{package}."):
            if info.name.startswith(ML_EXTRA_ONLY):
                continue
            try:
                importlib.import_module(info.name)
            except Exception as exc:  # report every kind, the caller decides
                failed.append(f"{info.name}: {type(exc).__name__}: {exc}")
    return failed


def main(argv: list[str]) -> int:
    command, args = argv[0], argv[1:]
    if command == "closure":
        for name in sorted(closure(tuple(args))):
            print(name)
    elif command == "link":
        link(Path(args[0]), tuple(args[1:]))
    elif command == "sizes":
        print(json.dumps(sizes(), indent=1))
    elif command == "imports":
        failed = imports()
        print("\n".join(failed) or "every module imports")
        return 1 if failed else 0
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
