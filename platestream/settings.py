"""Typed, frozen settings shared by every stage; each stage subclasses them with its own fields."""

from __future__ import annotations

import json
import types
import typing
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from platestream.errors import ConfigError

# Development-only secrets: accepted only with env=development, refused elsewhere.
DEV_S3_ACCESS_KEY = "platestream"
DEV_S3_SECRET_KEY = "platestream-dev-secret"
DEV_CLICKHOUSE_PASSWORD = "platestream-dev"
DEV_JWT_SECRET = "platestream-dev-jwt-secret-change-me-0123456789"
DEV_PRIVACY_SUBJECT_KEY = "platestream-dev-subject-key-change-me-0123456789"

PROJECT_ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T", bound=BaseSettings)


ENV_PREFIX = "PLATESTREAM_"
_SCALARS = (str, int, float)


def _scalar_list(annotation: Any) -> bool:
    """Whether a field is a list/tuple/set of plain scalars (then "a,b" is read as two items)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return len(args) == 1 and _scalar_list(args[0])
    if typing.get_origin(annotation) not in (list, tuple, set, frozenset):
        return False
    return all(a in _SCALARS or a is Ellipsis for a in args)


class _EnvSource(EnvSettingsSource):
    """Env vars as pydantic-settings reads them, except that a list of scalars also accepts a
    comma-separated value (``PLATESTREAM_DETECT_FORMATS=BR,EU`` as well as ``["BR","EU"]``)."""

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        try:
            return super().decode_complex_value(field_name, field, value)
        except ValueError:
            if isinstance(value, str) and _scalar_list(field.annotation):
                return [item.strip() for item in value.split(",") if item.strip()]
            raise


class CommonSettings(BaseSettings):
    """Connections and names every stage needs. Env prefix PLATESTREAM_."""

    model_config = SettingsConfigDict(
        env_prefix="PLATESTREAM_", frozen=True, extra="ignore", env_file=None
    )

    env: Literal["development", "test", "production"] = "development"
    var_dir: Path = PROJECT_ROOT / "var"
    log_level: str = "INFO"
    log_json: bool = False
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Bind address of the processors' metrics/health port (0.0.0.0 in containers).",
    )
    liveness_max_age_s: float = Field(
        default=60.0,
        gt=0,
        description="A consume loop that has not polled for this long fails /health (restart).",
    )
    log_plates: bool = Field(
        default=False, description="Allow plate text in logs (personal data; off by default)."
    )

    kafka_bootstrap: str = "127.0.0.1:9092"
    # Kafka security (docs/deploy.md "Kafka security"): one set of variables for every stage,
    # mapped to librdkafka keys by kafka_common() and to faust credentials by
    # platestream.kafka.faust_credentials().
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_ssl_ca_location: Path | None = Field(
        default=None, description="CA bundle (PEM) that signed the brokers' certificates."
    )
    kafka_ssl_certificate_location: Path | None = Field(
        default=None, description="Client certificate (PEM) for mutual TLS."
    )
    kafka_ssl_key_location: Path | None = Field(
        default=None, description="Client private key (PEM) for mutual TLS."
    )
    kafka_ssl_key_password: str | None = Field(
        default=None, description="Passphrase of the client key, if it has one."
    )
    kafka_ssl_check_hostname: bool = Field(
        default=True, description="Verify that the broker certificate names the broker host."
    )
    kafka_log_level: int | None = Field(
        default=None,
        ge=0,
        le=7,
        description="librdkafka log level (syslog numbers); default: librdkafka's.",
    )
    # Test isolation and multi-tenant clusters: prepended to every topic name.
    topic_prefix: str = ""
    schema_registry_url: str | None = None
    schema_registry_user: str | None = Field(default=None, description="Registry basic auth.")
    schema_registry_password: str | None = None
    schema_registry_ca: Path | None = Field(
        default=None, description="CA bundle that signed the registry's TLS certificate."
    )
    schema_registry_cert: Path | None = Field(
        default=None, description="Client certificate (mTLS)."
    )
    schema_registry_key: Path | None = Field(default=None, description="Client key (mTLS).")
    schema_subject_strategy: Literal["topic", "record", "topic_record"] = Field(
        default="topic",
        description=(
            "Registry subject naming: topic (<topic>-value, Confluent's default), record "
            "(<namespace.Name>) or topic_record (<topic>-<namespace.Name>)."
        ),
    )
    partitions_override: int | None = Field(
        default=None, description="Force one partition count for every topic (tests)."
    )
    replication_factor: int = 1

    s3_endpoint: str = "http://127.0.0.1:8333"
    s3_access_key: str = DEV_S3_ACCESS_KEY
    s3_secret_key: str = DEV_S3_SECRET_KEY
    s3_region: str = "us-east-1"
    s3_bucket: str = "platestream"
    s3_retention_days: int = 90
    s3_frame_retention_days: int = Field(
        default=1,
        description=(
            "Days a frame ingest stored in the bucket for detect (frames/, by claim check) is "
            "kept: as long as the frames topic. 0: no rule of its own (the others apply)."
        ),
    )

    clickhouse_url: str = "http://127.0.0.1:8123"
    clickhouse_user: str = "platestream"
    clickhouse_password: str = DEV_CLICKHOUSE_PASSWORD
    clickhouse_database: str = "platestream"
    clickhouse_merge_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description=(
            "The local stack's ClickHouse runs its background merges at this Linux nice value "
            "(ClickHouse's os_threads_nice_value_merge_mutate), so inserts and searches come "
            "first on a small machine; 0: the same priority. A ClickHouse server sets it in its "
            "own config (docs/local-stack.md)."
        ),
    )

    jwt_secret: str = DEV_JWT_SECRET
    upload_token_secret: str = Field(
        default="",
        description=(
            "HS256 key of the upload tokens the API gives ingest (the same in both); empty: "
            "jwt_secret. Set it so ingest needs no JWT secret (platestream/uploadtoken.py)."
        ),
    )
    # Stages that sign or verify with jwt_secret set this (the API); the others never read it,
    # deploy/ does not give it to them, so they must not refuse its default (ingest's upload
    # routes check it themselves: services/ingest/uploads.py).
    uses_jwt_secret: ClassVar[bool] = False
    privacy_subject_key: str = Field(
        default=DEV_PRIVACY_SUBJECT_KEY,
        description=(
            "HMAC key of subject ids: an erasure names its plate by HMAC-SHA256(key, plate), so "
            "the erasure ledger holds no plate in clear (platestream/privacy/erasure.py). The "
            "same in the API and the sink; a secret: plates are a small space to guess."
        ),
    )
    # The stages that hash plates into subject ids (the API, the sink) refuse the default.
    uses_privacy_subject_key: ClassVar[bool] = False
    privacy_seal_topics: bool = Field(
        default=False,
        description=(
            "Crypto-shredding: plates, OCR candidates and inline images in the topics' records "
            "are sealed (AES-GCM) under a key per plate, kept in the subject-key bucket; an "
            "erasure deletes the keys, so no copy in the log opens again "
            "(platestream/privacy/shredding.py, docs/privacy.md). The same in every stage."
        ),
    )
    privacy_key_bucket: str = Field(
        default="",
        description=(
            "Bucket of the subject keys (no lifecycle rule: a key lives until its plate is "
            "erased); empty: '<s3_bucket>-subject-keys'."
        ),
    )
    privacy_key_period_days: float = Field(
        default=7.0,
        gt=0,
        description=(
            "With sealing on: how long one subject-key tree seals records before the next takes"
            " over. Each tree is deleted once every topic has dropped what it sealed, so shorter"
            " periods shred the log's copies sooner after their retention, at more trees to load."
        ),
    )
    privacy_key_grace_days: float = Field(
        default=7.0,
        ge=0,
        description=(
            "With sealing on: how long a key tree outlives its records' topic retention plus a"
            " dead letter's (the broker deletes whole segments, up to segment.ms late: 7 days by"
            " default). Raise it with any topic's retention.ms."
        ),
    )
    privacy_key_cache_s: float = Field(
        default=60.0,
        gt=0,
        description=(
            "How long a stage keeps a subject key in memory: after an erasure, stages stop "
            "opening and sealing with its keys within this time."
        ),
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _EnvSource(settings_cls), dotenv_settings, file_secret_settings)

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> CommonSettings:
        if self.env == "production":
            defaults = {
                "s3_secret_key": DEV_S3_SECRET_KEY,
                "clickhouse_password": DEV_CLICKHOUSE_PASSWORD,
                "jwt_secret": DEV_JWT_SECRET,
            }
            if not self.uses_jwt_secret:
                defaults.pop("jwt_secret")
            if self.uses_privacy_subject_key or self.privacy_seal_topics:
                defaults["privacy_subject_key"] = DEV_PRIVACY_SUBJECT_KEY
            bad = [name for name, value in defaults.items() if getattr(self, name) == value]
            if bad:
                names = ", ".join(f"PLATESTREAM_{n.upper()}" for n in bad)
                raise ValueError(
                    f"default development secrets are refused in production: set {names}"
                )
        return self

    @model_validator(mode="after")
    def _kafka_security_is_coherent(self) -> CommonSettings:
        """Options that the chosen protocol would silently ignore are errors, not surprises."""
        protocol = self.kafka_security_protocol
        sasl = protocol.startswith("SASL_")
        tls = protocol in ("SSL", "SASL_SSL")
        if sasl and not self.kafka_sasl_mechanism:
            raise ValueError(
                f"PLATESTREAM_KAFKA_SECURITY_PROTOCOL={protocol} needs "
                "PLATESTREAM_KAFKA_SASL_MECHANISM (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)"
            )
        if self.kafka_sasl_mechanism and not sasl:
            raise ValueError(
                "PLATESTREAM_KAFKA_SASL_MECHANISM needs PLATESTREAM_KAFKA_SECURITY_PROTOCOL "
                f"SASL_SSL or SASL_PLAINTEXT, not {protocol}"
            )
        tls_files = {
            "KAFKA_SSL_CA_LOCATION": self.kafka_ssl_ca_location,
            "KAFKA_SSL_CERTIFICATE_LOCATION": self.kafka_ssl_certificate_location,
            "KAFKA_SSL_KEY_LOCATION": self.kafka_ssl_key_location,
        }
        if not tls and any(tls_files.values()):
            names = ", ".join(f"PLATESTREAM_{n}" for n, v in tls_files.items() if v)
            raise ValueError(f"{names} need PLATESTREAM_KAFKA_SECURITY_PROTOCOL SSL or SASL_SSL")
        if bool(self.kafka_ssl_certificate_location) != bool(self.kafka_ssl_key_location):
            raise ValueError(
                "PLATESTREAM_KAFKA_SSL_CERTIFICATE_LOCATION and PLATESTREAM_KAFKA_SSL_KEY_LOCATION "
                "go together (mutual TLS)"
            )
        return self

    def topic(self, base_name: str) -> str:
        """Full topic name for a catalogue name, with the configured prefix."""
        return f"{self.topic_prefix}{base_name}"

    def kafka_common(self) -> dict[str, str]:
        """librdkafka settings shared by producers, consumers and the admin client."""
        conf = {
            "bootstrap.servers": self.kafka_bootstrap,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_log_level is not None:
            conf["log_level"] = str(self.kafka_log_level)
        if self.kafka_sasl_mechanism:
            conf["sasl.mechanism"] = self.kafka_sasl_mechanism
            conf["sasl.username"] = self.kafka_sasl_username or ""
            conf["sasl.password"] = self.kafka_sasl_password or ""
        if self.kafka_security_protocol in ("SSL", "SASL_SSL"):
            tls = {
                "ssl.ca.location": self.kafka_ssl_ca_location,
                "ssl.certificate.location": self.kafka_ssl_certificate_location,
                "ssl.key.location": self.kafka_ssl_key_location,
            }
            conf.update({key: str(path) for key, path in tls.items() if path})
            if self.kafka_ssl_key_password:
                conf["ssl.key.password"] = self.kafka_ssl_key_password
            conf["ssl.endpoint.identification.algorithm"] = (
                "https" if self.kafka_ssl_check_hostname else "none"
            )
        return conf

    @property
    def s3_secure(self) -> bool:
        return self.s3_endpoint.startswith("https://")

    @property
    def s3_host(self) -> str:
        return self.s3_endpoint.split("://", 1)[-1].rstrip("/")


def _expects(field: FieldInfo | None) -> str:
    """What a field's env var takes, in words, for error messages."""
    if field is None:
        return ""
    annotation = field.annotation
    if _scalar_list(annotation):
        return "a comma-separated list or a JSON list"
    origin = typing.get_origin(annotation)
    if origin is dict or annotation is dict:
        return "a JSON object"
    if origin is list or origin is tuple:
        return "a JSON list"
    if origin is Literal:
        return "one of " + ", ".join(str(a) for a in typing.get_args(annotation))
    words = {int: "an integer", float: "a number", bool: "true or false", Path: "a path"}
    return words.get(annotation, "") if isinstance(annotation, type) else ""


def _problem(cls: type[BaseSettings], err: Any) -> str:
    loc = [str(p) for p in err["loc"]]
    if not loc:
        return str(err["msg"]).removeprefix("Value error, ")
    field = cls.model_fields.get(loc[0])
    where = ".".join(loc[1:])
    expects = _expects(field) if not where else ""
    got = err.get("input")
    shown = f", got {json.dumps(got)[:60]}" if isinstance(got, str | int | float) else ""
    what = str(err["msg"]).removeprefix("Value error, ")
    return (
        f"{ENV_PREFIX}{loc[0].upper()}{f' ({where})' if where else ''}: {what}"
        f"{f'; expects {expects}' if expects else ''}{shown}"
    )


def load(cls: type[T], **overrides: object) -> T:
    """Build a settings object; a bad setting becomes one ConfigError line per variable, naming
    the variable and what it expects (no pydantic traceback)."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = "; ".join(_problem(cls, err) for err in exc.errors())
        raise ConfigError(problems) from exc
    except SettingsError as exc:
        # pydantic-settings could not parse a value as JSON: name the variable it came from
        field_name = str(exc).split('"')[1] if str(exc).count('"') >= 2 else ""
        field = cls.model_fields.get(field_name)
        expects = _expects(field) or "valid JSON"
        env = f"{ENV_PREFIX}{field_name.upper()}" if field_name else "a PLATESTREAM_ variable"
        raise ConfigError(f"{env}: cannot be parsed; expects {expects}") from exc


@lru_cache(maxsize=1)
def common() -> CommonSettings:
    """The process-wide common settings, read once."""
    return load(CommonSettings)
