"""Every schema stays BACKWARD compatible: today's schema reads records written with any earlier
committed version (from git history) and any frozen version in schemas/history/."""

from __future__ import annotations

import io
import json
import subprocess
from pathlib import Path

import fastavro
import pytest
from fastavro.schema import parse_schema
from fastavro.utils import generate_many

from platestream.registry import compatibility_problems
from platestream.serde import SCHEMA_DIR, AvroSerde, catalogue_schemas, history_files

REPO = SCHEMA_DIR.parent


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout


def _committed_versions(name: str) -> list[tuple[str, dict]]:
    try:
        commits = _git("log", "--format=%H", "--", f"schemas/{name}.avsc").split()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return []
    versions = []
    for commit in commits:
        try:
            versions.append((commit[:8], json.loads(_git("show", f"{commit}:schemas/{name}.avsc"))))
        except (subprocess.CalledProcessError, json.JSONDecodeError):
            continue
    return versions


def _assert_backward(old_raw: dict, new_raw: dict, label: str) -> None:
    """Decided by Avro's reader/writer checker (every field, type promotion and default), not by
    random sample records; plus the house rule that a new field comes with a default."""
    old_names = {f["name"] for f in old_raw["fields"]}
    for field in new_raw["fields"]:
        if field["name"] not in old_names:
            assert "default" in field, f"{label}: new field {field['name']!r} has no default"
    backward = [p for p in compatibility_problems(old_raw, new_raw) if p.startswith("backward")]
    assert not backward, f"{label}: {backward}"


def _has_history() -> bool:
    try:
        return bool(_git("rev-parse", "HEAD").strip())
    except (subprocess.CalledProcessError, FileNotFoundError):
        return False


@pytest.mark.parametrize("name", sorted(catalogue_schemas()))
def test_backward_compatible_with_every_committed_version(name):
    if not _has_history():
        pytest.skip("no git history in this checkout")
    current = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text())
    versions = _committed_versions(name)
    for label, old in versions:
        _assert_backward(old, current, f"{name}@{label}")


@pytest.mark.parametrize("path", history_files(), ids=lambda p: p.name)
def test_frozen_history_decodes_with_current_reader(path: Path):
    stem = path.stem.rsplit(".", 1)[0]
    old = json.loads(path.read_text())
    _assert_backward(old, json.loads((SCHEMA_DIR / f"{stem}.avsc").read_text()), path.name)
    serde = AvroSerde()
    writer = parse_schema(old, named_schemas={})
    for record in generate_many(writer, 5):
        buf = io.BytesIO()
        buf.write(b"\x00" + int(path.stem.rsplit(".", 1)[1]).to_bytes(4, "big"))
        fastavro.schemaless_writer(buf, writer, record)
        decoded_stem, _ = serde.decode_with_name(buf.getvalue())
        assert decoded_stem == stem


def test_an_incompatible_change_is_detected():
    """The checker itself fails on a field added without a default (guards against a no-op test)."""
    old = json.loads((SCHEMA_DIR / "camera_status.avsc").read_text())
    new = json.loads(json.dumps(old))
    new["fields"].append({"name": "mandatory", "type": "string", "doc": "no default"})
    with pytest.raises(AssertionError, match="no default"):
        _assert_backward(old, new, "camera_status+mandatory")
    # the same field in an old version that a new one drops is fine BACKWARD; a changed type is not
    changed = json.loads(json.dumps(old))
    first = next(f for f in changed["fields"] if f["type"] == "string")
    first["type"] = "long"
    with pytest.raises(AssertionError, match="backward"):
        _assert_backward(old, changed, "camera_status+type")
