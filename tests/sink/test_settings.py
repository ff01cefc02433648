"""Sink settings: retention per table from defaults, one JSON, or one variable per table."""

from __future__ import annotations

import pytest

from platestream.errors import ConfigError
from platestream.settings import load
from services.sink.settings import DEFAULT_RETENTION_DAYS, SinkSettings


def test_retention_defaults_then_json_then_per_table(monkeypatch: pytest.MonkeyPatch) -> None:
    assert SinkSettings().retention_days() == DEFAULT_RETENTION_DAYS
    monkeypatch.setenv("PLATESTREAM_SINK_RETENTION_DAYS", '{"plate_reads": 7, "audit_log": 0}')
    monkeypatch.setenv("PLATESTREAM_SINK_RETENTION_DAYS_PLATE_READS", "3")
    days = SinkSettings().retention_days()
    assert days["plate_reads"] == 3  # the per-table variable wins over the JSON
    assert days["audit_log"] == 0
    assert days["plate_events"] == DEFAULT_RETENTION_DAYS["plate_events"]


@pytest.mark.parametrize("value", ['{"nope": 3}', '{"plate_reads": -1}', "[1]", "{bad"])
def test_bad_retention_json_is_a_readable_config_error(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("PLATESTREAM_SINK_RETENTION_DAYS", value)
    with pytest.raises(ConfigError, match="PLATESTREAM_SINK_RETENTION_DAYS"):
        load(SinkSettings)


def test_targets() -> None:
    assert SinkSettings().targets() == {"clickhouse", "s3"}
    assert SinkSettings(sink_targets="s3").targets() == {"s3"}
    with pytest.raises(ValueError):
        SinkSettings(sink_targets="postgres")
