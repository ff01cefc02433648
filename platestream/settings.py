"""Typed, frozen settings shared by every stage; each stage subclasses them with its own fields."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from platestream.errors import ConfigError

# Development-only secrets: accepted only with env=development, refused elsewhere.
DEV_S3_ACCESS_KEY = "platestream"
DEV_S3_SECRET_KEY = "platestream-dev-secret"
DEV_CLICKHOUSE_PASSWORD = "platestream-dev"
DEV_JWT_SECRET = "platestream-dev-jwt-secret-change-me-0123456789"

PROJECT_ROOT = Path(__file__).resolve().parent.parent

T = TypeVar("T", bound=BaseSettings)


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
    log_plates: bool = Field(
        default=False, description="Allow plate text in logs (personal data; off by default)."
    )

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    kafka_log_level: int | None = Field(
        default=None,
        ge=0,
        le=7,
        description="librdkafka log level (syslog numbers); default: librdkafka's.",
    )
    # Test isolation and multi-tenant clusters: prepended to every topic name.
    topic_prefix: str = ""
    schema_registry_url: str | None = None
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

    clickhouse_url: str = "http://127.0.0.1:8123"
    clickhouse_user: str = "platestream"
    clickhouse_password: str = DEV_CLICKHOUSE_PASSWORD
    clickhouse_database: str = "platestream"

    jwt_secret: str = DEV_JWT_SECRET

    @model_validator(mode="after")
    def _refuse_default_secrets(self) -> CommonSettings:
        if self.env == "production":
            defaults = {
                "s3_secret_key": DEV_S3_SECRET_KEY,
                "clickhouse_password": DEV_CLICKHOUSE_PASSWORD,
                "jwt_secret": DEV_JWT_SECRET,
            }
            bad = [name for name, value in defaults.items() if getattr(self, name) == value]
            if bad:
                names = ", ".join(f"PLATESTREAM_{n.upper()}" for n in bad)
                raise ValueError(
                    f"default development secrets are refused in production: set {names}"
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
        return conf

    @property
    def s3_secure(self) -> bool:
        return self.s3_endpoint.startswith("https://")

    @property
    def s3_host(self) -> str:
        return self.s3_endpoint.split("://", 1)[-1].rstrip("/")


def load(cls: type[T], **overrides: object) -> T:
    """Build a settings object, turning validation errors into one readable ConfigError."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "settings"
            env = f"PLATESTREAM_{loc.upper()}" if err["loc"] else ""
            lines.append(f"  {env or loc}: {err['msg']}")
        raise ConfigError(f"invalid {cls.__name__}:\n" + "\n".join(lines)) from exc


@lru_cache(maxsize=1)
def common() -> CommonSettings:
    """The process-wide common settings, read once."""
    return load(CommonSettings)
