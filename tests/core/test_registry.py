"""The Schema Registry as downstream consumers see it: every schema registered as written (logical
types, defaults and docs intact), records decodable by id, and `platestream schemas check`
accepting an added optional field while refusing a removed required one."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from registry_double import RegistryState, registry_double
from typer.testing import CliRunner

from platestream import topics as catalogue
from platestream.registry import Registry, check_catalogue, compatibility_problems, subject_for
from platestream.serde import SCHEMA_DIR, AvroSerde, load_schema_file
from platestream.settings import CommonSettings


@pytest.fixture
def registry() -> Iterator[tuple[str, RegistryState]]:
    with registry_double() as running:
        yield running


def _settings(url: str, **extra: Any) -> CommonSettings:
    return CommonSettings(schema_registry_url=url, **extra)


def _register_all(serde: AvroSerde) -> dict[str, int]:
    return {
        f"{t.name}-value": serde.schema_id(t.schema, subject=f"{t.name}-value")
        for t in catalogue.ALL
    }


def test_every_schema_is_registered_exactly_as_written(registry) -> None:
    url, state = registry
    ids = _register_all(AvroSerde(settings=_settings(url)))
    for topic in catalogue.ALL:
        written = load_schema_file(SCHEMA_DIR / f"{topic.schema}.avsc")
        assert state.received(f"{topic.name}-value") == [written], topic.name
    assert len(set(ids.values())) == len({t.schema for t in catalogue.ALL})
    # what the parsing canonical form dropped is there: logical types, defaults, docs
    read = state.received(f"{catalogue.PLATE_READS.name}-value")[0]
    fields = {f["name"]: f for f in read["fields"]}
    assert fields["ts"]["type"] == {"type": "long", "logicalType": "timestamp-millis"}
    assert "doc" in read and any("doc" in f for f in read["fields"])
    defaults = [f for f in read["fields"] if "default" in f]
    assert defaults and all(f["name"] in fields for f in defaults)


def test_ids_are_cached_after_the_first_registration(registry) -> None:
    url, state = registry
    serde = AvroSerde(settings=_settings(url))
    subject = f"{catalogue.PLATE_READS.name}-value"
    first = serde.schema_id("plate_read", subject=subject)
    posts = sum(1 for m, _p, _b in state.requests if m == "POST")
    assert serde.schema_id("plate_read", subject=subject) == first
    assert sum(1 for m, _p, _b in state.requests if m == "POST") == posts


def test_a_record_written_with_a_registry_id_decodes_elsewhere(registry) -> None:
    from services.sink import samples

    url, _state = registry
    record = samples.plate_read(1, base_ts=1_763_700_000_000)
    data = AvroSerde(settings=_settings(url)).encode(
        "plate_read", record, subject=f"{catalogue.PLATE_READS.name}-value"
    )
    stem, decoded = AvroSerde(settings=_settings(url)).decode_with_name(data)
    assert stem == "plate_read" and decoded["read_id"] == record["read_id"]


@pytest.mark.parametrize(
    ("strategy", "expected"),
    [
        ("topic", "anpr.reads.v1-value"),
        ("record", "platestream.PlateRead"),
        ("topic_record", "anpr.reads.v1-platestream.PlateRead"),
    ],
)
def test_subject_naming_strategy(registry, strategy: str, expected: str) -> None:
    url, state = registry
    schema = load_schema_file(SCHEMA_DIR / "plate_read.avsc")
    full = f"{schema['namespace']}.{schema['name']}"
    expected = expected.replace("platestream.PlateRead", full).replace(
        "anpr.reads.v1", catalogue.PLATE_READS.name
    )
    assert subject_for(strategy, f"{catalogue.PLATE_READS.name}-value", schema) == expected
    serde = AvroSerde(settings=_settings(url, schema_subject_strategy=strategy))
    serde.schema_id("plate_read", subject=f"{catalogue.PLATE_READS.name}-value")
    assert list(state.subjects) == [expected]


def _with_optional_field(schema: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    out["fields"].append(
        {"name": "added_later", "type": ["null", "string"], "default": None, "doc": "new"}
    )
    return out


def _without_required_field(schema: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(schema)
    required = next(f for f in out["fields"] if "default" not in f)
    out["fields"].remove(required)
    return out


def test_schemas_check_passes_an_added_optional_field_and_fails_a_removed_required_one(
    registry,
) -> None:
    url, _state = registry
    settings = _settings(url)
    reg = Registry(url, settings)
    subject = f"{catalogue.PLATE_READS.name}-value"
    assert {v.state for v in check_catalogue(reg)} == {"new"}
    _register_all(AvroSerde(settings=settings))
    assert {v.state for v in check_catalogue(reg)} == {"unchanged"}

    current = load_schema_file(SCHEMA_DIR / "plate_read.avsc")
    added = reg.check(subject, "plate_read", _with_optional_field(current))
    assert added.state == "compatible" and added.problems == ()

    removed = reg.check(subject, "plate_read", _without_required_field(current))
    assert removed.state == "incompatible"
    # the registry itself (BACKWARD) accepts a removal; the consumer-side check refuses it
    assert [p.split(":")[0] for p in removed.problems] == ["forward"]

    required_added = copy.deepcopy(current)
    required_added["fields"].append({"name": "must_have", "type": "string"})
    refused = reg.check(subject, "plate_read", required_added)
    assert refused.problems[0] == "refused by the registry's compatibility level"


def test_schemas_check_command(registry, monkeypatch: pytest.MonkeyPatch) -> None:
    from platestream.cli import app

    url, _state = registry
    monkeypatch.setenv("PLATESTREAM_SCHEMA_REGISTRY_URL", url)
    runner = CliRunner()
    first = runner.invoke(app, ["schemas", "check"])
    assert first.exit_code == 0, first.output
    assert all(line.startswith("new ") for line in first.output.splitlines())
    _register_all(AvroSerde(settings=_settings(url)))

    # a working copy whose plate_read lost a required field: the check fails with exit 1
    current = load_schema_file(SCHEMA_DIR / "plate_read.avsc")
    broken = _without_required_field(current)
    from platestream import serde as serde_module

    def load(path):  # type: ignore[no-untyped-def]
        return broken if path.name == "plate_read.avsc" else load_schema_file(path)

    monkeypatch.setattr(serde_module, "load_schema_file", load)
    second = runner.invoke(app, ["schemas", "check"])
    assert second.exit_code == 1
    assert f"incompatible {catalogue.PLATE_READS.name}-value" in second.output
    assert "forward:" in second.output


def test_compatibility_is_decided_by_avros_checker_not_samples() -> None:
    old = {
        "type": "record",
        "name": "R",
        "fields": [{"name": "a", "type": "long"}, {"name": "b", "type": "string"}],
    }
    widened = {**old, "fields": [{"name": "a", "type": "double"}, old["fields"][1]]}
    narrowed_back = old
    assert compatibility_problems(old, widened)[0].startswith("forward")  # long -> double
    assert compatibility_problems(widened, narrowed_back)[0].startswith("backward")
    assert compatibility_problems(old, json.loads(json.dumps(old))) == []
