"""Kafka TLS and SASL reach every client of every stage from one set of PLATESTREAM_ variables.

The local broker (tansu) offers neither TLS nor SASL, so no handshake is tested here: the tests
check the mapping per client (librdkafka keys for every confluent-kafka client, faust credentials
with the TLS context for the faust stages) and that librdkafka and Python's ssl accept what the
mapping produces, with a CA and a client certificate generated here.
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import faust
import pytest
from confluent_kafka import KafkaException, Producer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

from platestream import kafka
from platestream.errors import ConfigError
from platestream.settings import CommonSettings, load
from platestream.state import StateFollower
from services.api.settings import ApiSettings
from services.detect.settings import DetectSettings
from services.enrich.settings import EnrichSettings, HealthSettings, NotifySettings
from services.ingest.cameras import SlotMembership
from services.ingest.settings import IngestSettings
from services.investigate.settings import AnomalySettings
from services.sink.settings import SinkSettings

STAGES = (
    IngestSettings,
    DetectSettings,
    EnrichSettings,
    SinkSettings,
    ApiSettings,
    NotifySettings,
    HealthSettings,
    AnomalySettings,
)
UNREACHABLE = "127.0.0.1:1"  # nothing listens: construction must not need a broker


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _cert(subject: str, key, issuer: str, issuer_key, *, ca: bool) -> x509.Certificate:  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a client certificate/key (PEM files) signed by it."""
    out = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    client_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("platestream test CA", ca_key, "platestream test CA", ca_key, ca=True)
    client = _cert("notify", client_key, "platestream test CA", ca_key, ca=False)
    files = {"ca": out / "ca.pem", "cert": out / "client.pem", "key": out / "client.key"}
    files["ca"].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    files["cert"].write_bytes(client.public_bytes(serialization.Encoding.PEM))
    files["key"].write_bytes(
        client_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return files


@pytest.fixture
def secure_env(monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path]) -> dict[str, str]:
    """SCRAM over TLS with mutual TLS, as the prod overlay sets it (env from a secret)."""
    env = {
        "PLATESTREAM_KAFKA_BOOTSTRAP": UNREACHABLE,
        "PLATESTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "PLATESTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "PLATESTREAM_KAFKA_SASL_USERNAME": "platestream",
        "PLATESTREAM_KAFKA_SASL_PASSWORD": "s3cret",
        "PLATESTREAM_KAFKA_SSL_CA_LOCATION": str(pki["ca"]),
        "PLATESTREAM_KAFKA_SSL_CERTIFICATE_LOCATION": str(pki["cert"]),
        "PLATESTREAM_KAFKA_SSL_KEY_LOCATION": str(pki["key"]),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _expected(pki: dict[str, Path]) -> dict[str, str]:
    return {
        "bootstrap.servers": UNREACHABLE,
        "security.protocol": "SASL_SSL",
        "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "platestream",
        "sasl.password": "s3cret",
        "ssl.ca.location": str(pki["ca"]),
        "ssl.certificate.location": str(pki["cert"]),
        "ssl.key.location": str(pki["key"]),
        "ssl.endpoint.identification.algorithm": "https",
    }


def _client_configs(settings: CommonSettings) -> dict[str, dict[str, object]]:
    """Every confluent-kafka client configuration the stages build (bench/chaos tools excepted:
    they also start from kafka_common(), see docs/deploy.md)."""
    common = settings.kafka_common()
    return {
        "producer (ingest, detect, enrich, api publisher, investigate)": kafka.producer_config(
            settings
        ),
        "consumer (detect, enrich, sink, notify read-back, gaps)": kafka.consumer_config(
            settings, "g"
        ),
        "admin (topic creation, broker probe)": dict(common),
        "state follower (api, enrich routes, investigate)": StateFollower.consumer_config(common),
        "camera slots (ingest)": SlotMembership.consumer_config(common, "g", "m"),
    }


@pytest.mark.parametrize("stage", STAGES, ids=lambda c: c.__name__)
def test_every_stage_maps_tls_and_scram_to_every_client(
    stage: type[CommonSettings], secure_env: dict[str, str], pki: dict[str, Path]
) -> None:
    settings = load(stage)
    for client, conf in _client_configs(settings).items():
        missing = {k: v for k, v in _expected(pki).items() if conf.get(k) != v}
        assert not missing, f"{stage.__name__} {client}: wrong or missing {missing}"


@pytest.mark.parametrize("stage", (NotifySettings, HealthSettings), ids=lambda c: c.__name__)
def test_faust_stages_get_sasl_over_tls_with_the_ca_and_client_cert(
    stage: type[CommonSettings], secure_env: dict[str, str], pki: dict[str, Path]
) -> None:
    from services.enrich.notify_app import faust_common

    settings = load(stage)
    creds = faust_common(settings, "app", 0)["broker_credentials"]
    assert isinstance(creds, faust.SASLCredentials)
    assert (creds.username, creds.password) == ("platestream", "s3cret")
    assert creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.protocol.value == "SASL_SSL"
    context = creds.ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    # the context trusts exactly our CA (no system store besides it here: cafile given)
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "platestream test CA"),),)
    ]
    # what aiokafka (under faust) is given
    auth = credentials_to_aiokafka_auth(creds)
    assert auth["security_protocol"] == "SASL_SSL"
    assert auth["sasl_mechanism"] == "SCRAM-SHA-512"
    assert auth["ssl_context"] is context


def test_faust_tls_without_sasl_is_ssl_credentials(
    monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path]
) -> None:
    settings = NotifySettings(
        kafka_security_protocol="SSL",
        kafka_ssl_ca_location=pki["ca"],
        kafka_ssl_check_hostname=False,
    )
    creds = kafka.faust_credentials(settings)
    assert isinstance(creds, faust.SSLCredentials)
    assert creds.protocol.value == "SSL"
    assert not creds.context.check_hostname
    assert settings.kafka_common()["ssl.endpoint.identification.algorithm"] == "none"
    assert "sasl.mechanism" not in settings.kafka_common()
    assert kafka.faust_credentials(NotifySettings()) is None


def test_librdkafka_accepts_the_config_and_reads_the_files(
    secure_env: dict[str, str], pki: dict[str, Path], tmp_path: Path
) -> None:
    settings = load(CommonSettings)
    producer = kafka.make_producer(settings)
    assert producer.flush(0) == 0
    consumer = kafka.make_consumer(settings, "tls-test")
    consumer.close()
    kafka.make_admin(settings)
    # construction loads the CA and the key pair: a missing file is refused, so the check above
    # did exercise them
    with pytest.raises(KafkaException, match=r"ssl\.ca\.location|CA"):
        Producer({**settings.kafka_common(), "ssl.ca.location": str(tmp_path / "none.pem")})
    with pytest.raises(KafkaException):
        Producer({**settings.kafka_common(), "ssl.key.location": str(pki["ca"])})


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, "SASL_MECHANISM"),
        ({"KAFKA_SASL_MECHANISM": "SCRAM-SHA-256"}, "SASL_SSL or SASL_PLAINTEXT"),
        ({"KAFKA_SSL_CA_LOCATION": "/ca.pem"}, "SSL or SASL_SSL"),
        (
            {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTIFICATE_LOCATION": "/c.pem"},
            "go together",
        ),
        ({"KAFKA_SECURITY_PROTOCOL": "TLS"}, "KAFKA_SECURITY_PROTOCOL"),
        ({"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "KAFKA_SASL_MECHANISM": "MD5"}, "MECHANISM"),
    ],
)
def test_incoherent_security_settings_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], message: str
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"PLATESTREAM_{name}", value)
    with pytest.raises(ConfigError, match=message):
        load(CommonSettings)


def test_the_schema_registry_client_gets_basic_auth_and_tls(
    monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path]
) -> None:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from platestream.registry import client_config

    env = {
        "SCHEMA_REGISTRY_URL": "https://127.0.0.1:1",
        "SCHEMA_REGISTRY_USER": "platestream",
        "SCHEMA_REGISTRY_PASSWORD": "r3gistry",
        "SCHEMA_REGISTRY_CA": str(pki["ca"]),
        "SCHEMA_REGISTRY_CERT": str(pki["cert"]),
        "SCHEMA_REGISTRY_KEY": str(pki["key"]),
    }
    for name, value in env.items():
        monkeypatch.setenv(f"PLATESTREAM_{name}", value)
    for stage in STAGES:
        settings = load(stage)
        assert settings.schema_registry_url
        conf = client_config(settings.schema_registry_url, settings)
        assert conf["basic.auth.user.info"] == "platestream:r3gistry", stage.__name__
        assert conf["ssl.ca.location"] == str(pki["ca"])
        assert conf["ssl.certificate.location"] == str(pki["cert"])
        assert conf["ssl.key.location"] == str(pki["key"])
    SchemaRegistryClient(conf)  # the client takes these keys (no request is made)
