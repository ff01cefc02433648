"""The notifier reads back records its consumer skipped, and passes the Kafka SASL settings to faust."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest

from platestream import topics as catalogue
from platestream.kafka import make_producer
from services.enrich.notify_app import GapWatch, build_notify_app, faust_credentials, read_back
from services.enrich.settings import NotifySettings


def test_gap_watch_reports_skipped_offsets_per_partition() -> None:
    gaps = GapWatch()
    assert gaps.see(0, 95) is None  # the first offset of a partition is the baseline
    assert gaps.see(0, 97) == range(96, 97)
    assert gaps.see(0, 98) is None
    assert gaps.see(1, 10) is None  # partitions are independent
    assert gaps.see(0, 98) is None  # a redelivered record is not a gap
    assert gaps.see(0, 90) is None  # nor an older one (the consumer was rewound)
    assert gaps.see(0, 101) == range(99, 101)
    gaps.forget({0})  # reassigned: offsets another member handled are not gaps
    assert gaps.see(0, 500) is None
    assert gaps.see(1, 14) == range(11, 14)


def test_faust_gets_the_sasl_settings() -> None:
    assert faust_credentials(NotifySettings()) is None
    creds = faust_credentials(
        NotifySettings(
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="notify",
            kafka_sasl_password="s3cret",
        )
    )
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password) == ("notify", "s3cret")
    assert creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.protocol.value == "SASL_PLAINTEXT"
    # SASL over TLS too (tests/core/test_kafka_security.py covers the TLS context)
    tls = faust_credentials(
        NotifySettings(kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="PLAIN")
    )
    assert tls.protocol.value == "SASL_SSL" and tls.ssl_context is not None


def test_faust_keeps_its_data_under_the_var_dir(tmp_path) -> None:  # type: ignore[no-untyped-def]
    var = tmp_path / "fresh" / "var"  # not made yet: faust creates only the last level itself
    app = build_notify_app(NotifySettings(var_dir=var))
    assert Path(app.conf.datadir).parent == var
    assert app.conf.datadir.name.endswith("-data")
    app.conf.datadir.mkdir(exist_ok=True)  # what faust does on start; it failed in CI
    assert app.conf.datadir.is_dir()


@pytest.mark.integration
def test_read_back_returns_exactly_the_skipped_records(settings) -> None:  # type: ignore[no-untyped-def]
    topic = settings.topic(catalogue.ALERTS.name)
    producer = make_producer(settings)
    for i in range(10):
        producer.produce(topic, key=b"k", value=f"v{i}".encode(), partition=1)
    assert producer.flush(30) == 0
    got = read_back(settings, topic, 1, range(3, 6))
    assert [(off, key, value) for off, key, value in got] == [
        (3, b"k", b"v3"),
        (4, b"k", b"v4"),
        (5, b"k", b"v5"),
    ]
