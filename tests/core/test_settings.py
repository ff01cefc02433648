"""Settings: env prefix, frozen, readable errors, default secrets refused in production."""

from __future__ import annotations

import pytest

from platestream.errors import ConfigError
from platestream.settings import DEV_PRIVACY_SUBJECT_KEY, CommonSettings, load


def test_env_prefix_and_topic_prefix(monkeypatch):
    monkeypatch.setenv("PLATESTREAM_KAFKA_BOOTSTRAP", "broker:29092")
    monkeypatch.setenv("PLATESTREAM_TOPIC_PREFIX", "tenant1.")
    s = load(CommonSettings)
    assert s.kafka_bootstrap == "broker:29092"
    assert s.topic("anpr.frames.v1") == "tenant1.anpr.frames.v1"


def test_frozen():
    s = CommonSettings()
    with pytest.raises(Exception, match="frozen"):
        s.kafka_bootstrap = "x"  # type: ignore[misc]


def test_readable_validation_error(monkeypatch):
    monkeypatch.setenv("PLATESTREAM_S3_RETENTION_DAYS", "ninety")
    with pytest.raises(ConfigError) as info:
        load(CommonSettings)
    assert "PLATESTREAM_S3_RETENTION_DAYS" in str(info.value)


def test_default_secrets_refused_in_production(monkeypatch):
    from services.api.settings import ApiSettings

    monkeypatch.setenv("PLATESTREAM_ENV", "production")
    with pytest.raises(ConfigError, match="PLATESTREAM_S3_SECRET_KEY"):
        load(CommonSettings)
    monkeypatch.setenv("PLATESTREAM_S3_SECRET_KEY", "s3-real-secret")
    monkeypatch.setenv("PLATESTREAM_CLICKHOUSE_PASSWORD", "ch-real-secret")
    # only the API signs tokens: the other stages are not given the JWT secret (deploy/)
    assert load(CommonSettings).env == "production"
    with pytest.raises(ConfigError, match="PLATESTREAM_JWT_SECRET"):
        load(ApiSettings)
    monkeypatch.setenv("PLATESTREAM_JWT_SECRET", "jwt-real-secret-0123456789abcdef")
    monkeypatch.setenv("PLATESTREAM_PRIVACY_SUBJECT_KEY", "subject-real-key-0123456789abcdef")
    assert load(ApiSettings).env == "production"


def test_privacy_subject_key_refused_in_production_by_the_api_and_the_sink_only(monkeypatch):
    """The API and the sink hash plates into erasure subject ids; the other stages never do."""
    from services.api.settings import ApiSettings
    from services.detect.settings import DetectSettings
    from services.enrich.settings import EnrichSettings, HealthSettings
    from services.ingest.settings import IngestSettings
    from services.investigate.settings import AnomalySettings
    from services.sink.settings import SinkSettings

    monkeypatch.setenv("PLATESTREAM_ENV", "production")
    monkeypatch.setenv("PLATESTREAM_S3_SECRET_KEY", "s3-real-secret")
    monkeypatch.setenv("PLATESTREAM_CLICKHOUSE_PASSWORD", "ch-real-secret")
    monkeypatch.setenv("PLATESTREAM_JWT_SECRET", "jwt-real-secret-0123456789abcdef")
    for cls in (ApiSettings, SinkSettings):
        with pytest.raises(ConfigError, match="PLATESTREAM_PRIVACY_SUBJECT_KEY"):
            load(cls)
    for cls in (CommonSettings, IngestSettings, DetectSettings, EnrichSettings, HealthSettings):
        assert load(cls).privacy_subject_key == DEV_PRIVACY_SUBJECT_KEY, cls.__name__
    assert load(AnomalySettings).env == "production"
    monkeypatch.setenv("PLATESTREAM_PRIVACY_SUBJECT_KEY", "subject-real-key-0123456789abcdef")
    for cls in (ApiSettings, SinkSettings):
        assert load(cls).privacy_subject_key == "subject-real-key-0123456789abcdef"
    # development accepts the built-in key everywhere
    monkeypatch.setenv("PLATESTREAM_ENV", "development")
    monkeypatch.delenv("PLATESTREAM_PRIVACY_SUBJECT_KEY")
    assert load(SinkSettings).privacy_subject_key == DEV_PRIVACY_SUBJECT_KEY


def test_list_settings_accept_comma_separated_values(monkeypatch):
    from services.detect.settings import DetectSettings
    from services.enrich.settings import NotifySettings

    monkeypatch.setenv("PLATESTREAM_DETECT_FORMATS", "BR")
    assert load(DetectSettings).detect_formats == ("BR",)
    monkeypatch.setenv("PLATESTREAM_DETECT_FORMATS", "BR, EU,")
    assert load(DetectSettings).detect_formats == ("BR", "EU")
    monkeypatch.setenv("PLATESTREAM_DETECT_FORMATS", '["GB", "US"]')
    assert load(DetectSettings).detect_formats == ("GB", "US")
    # a list of objects still takes JSON only, and says so
    monkeypatch.setenv("PLATESTREAM_NOTIFY_ROUTES", "webhook,mqtt")
    with pytest.raises(ConfigError) as info:
        load(NotifySettings)
    assert str(info.value).startswith("PLATESTREAM_NOTIFY_ROUTES: ")
    assert "\n" not in str(info.value)


def test_bad_setting_is_one_line_naming_the_variable_and_what_it_expects(monkeypatch):
    from services.detect.settings import DetectSettings
    from services.ingest.settings import IngestSettings

    monkeypatch.setenv("PLATESTREAM_DETECT_BATCH_SIZE", "eight")
    with pytest.raises(ConfigError) as info:
        load(DetectSettings)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith("PLATESTREAM_DETECT_BATCH_SIZE: ")
    assert "expects an integer" in text and '"eight"' in text
    monkeypatch.delenv("PLATESTREAM_DETECT_BATCH_SIZE")
    monkeypatch.setenv("PLATESTREAM_INGEST_DEVICES", "{not json")
    with pytest.raises(ConfigError) as info:
        load(IngestSettings)
    assert str(info.value) == "PLATESTREAM_INGEST_DEVICES: cannot be parsed; expects a JSON object"
