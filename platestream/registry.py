"""The Schema Registry as platestream uses it: register schemas as written, fetch writers' schemas
by id, and check every catalogue schema against the registry's compatibility rule before a rollout.

Built on confluent_kafka.schema_registry's SchemaRegistryClient (basic auth, TLS, mTLS, caching of
ids and schemas), so any Confluent-compatible registry (Confluent, Karapace, Apicurio's ccompat
API) works.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from platestream.errors import ConfigError, SerdeError, UnknownSchemaError

if TYPE_CHECKING:
    from confluent_kafka.schema_registry import SchemaRegistryClient

    from platestream.settings import CommonSettings

SUBJECT_NOT_FOUND = 40401
VERSION_NOT_FOUND = 40402
SCHEMA_NOT_FOUND = 40403


def client_config(url: str, settings: CommonSettings) -> dict[str, Any]:
    """SchemaRegistryClient settings from the PLATESTREAM_SCHEMA_REGISTRY_* variables."""
    conf: dict[str, Any] = {"url": url, "timeout": 10, "max.retries": 2}
    if settings.schema_registry_user:
        conf["basic.auth.user.info"] = (
            f"{settings.schema_registry_user}:{settings.schema_registry_password or ''}"
        )
    if settings.schema_registry_ca:
        conf["ssl.ca.location"] = str(settings.schema_registry_ca)
    if settings.schema_registry_cert:
        conf["ssl.certificate.location"] = str(settings.schema_registry_cert)
    if settings.schema_registry_key:
        if not settings.schema_registry_cert:
            raise ConfigError(
                "PLATESTREAM_SCHEMA_REGISTRY_KEY: needs PLATESTREAM_SCHEMA_REGISTRY_CERT as well"
            )
        conf["ssl.key.location"] = str(settings.schema_registry_key)
    return conf


def fullname(schema: dict[str, Any]) -> str:
    name = str(schema.get("name", ""))
    return name if "." in name else f"{schema.get('namespace', '')}.{name}".lstrip(".")


def subject_for(strategy: str, topic_subject: str, schema: dict[str, Any]) -> str:
    """The subject under ``strategy`` for a value whose topic subject is ``<topic>-value``."""
    if strategy == "record":
        return fullname(schema)
    if strategy == "topic_record":
        return f"{topic_subject.removesuffix('-value')}-{fullname(schema)}"
    return topic_subject


def compatibility_problems(old: str | dict[str, Any], new: str | dict[str, Any]) -> list[str]:
    """What breaks between two versions, by Avro's reader/writer checker (empty: nothing).

    "backward": a reader with ``new`` cannot read data written with ``old`` (this project's
    stages after an upgrade); "forward": a reader still on ``old`` cannot read data written with
    ``new`` (a downstream consumer that has not upgraded), e.g. a required field was removed.
    """
    import avro.schema
    from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

    def parse(s: str | dict[str, Any]) -> Any:
        return avro.schema.parse(s if isinstance(s, str) else json.dumps(s))

    problems = []
    for direction, reader, writer in (("backward", new, old), ("forward", old, new)):
        result = ReaderWriterCompatibilityChecker().get_compatibility(parse(reader), parse(writer))
        if result.compatibility is not SchemaCompatibilityType.compatible:
            detail = "; ".join(str(m) for m in result.messages) or "incompatible"
            problems.append(f"{direction}: {detail}")
    return problems


def _avro(schema: dict[str, Any]) -> Any:
    from confluent_kafka.schema_registry import Schema

    return Schema(json.dumps(schema, separators=(",", ":")), "AVRO")


@dataclass(frozen=True)
class Verdict:
    subject: str
    schema: str  # file stem
    state: str  # compatible | unchanged | new | incompatible
    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state != "incompatible"


class Registry:
    """One registry client per process (it caches ids and schemas)."""

    def __init__(self, url: str, settings: CommonSettings) -> None:
        from confluent_kafka.schema_registry import SchemaRegistryClient

        self.url = url
        self.strategy = settings.schema_subject_strategy
        self._client: SchemaRegistryClient = SchemaRegistryClient(client_config(url, settings))

    def subject(self, topic_subject: str, schema: dict[str, Any]) -> str:
        return subject_for(self.strategy, topic_subject, schema)

    def register(self, topic_subject: str, schema: dict[str, Any]) -> int:
        """Register ``schema`` exactly as written; returns its id (cached after the first call)."""
        subject = self.subject(topic_subject, schema)
        try:
            return int(self._client.register_schema(subject, _avro(schema)))
        except Exception as exc:  # SchemaRegistryError, or the HTTP client's connection errors
            raise SerdeError(f"schema registry {self.url} refused {subject}: {exc}") from exc

    def fetch(self, sid: int) -> dict[str, Any]:
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        try:
            schema = self._client.get_schema(sid)
        except SchemaRegistryError as exc:
            if exc.http_status_code == 404:
                raise UnknownSchemaError(f"schema id {sid} not in the registry") from exc
            raise SerdeError(f"schema registry error for id {sid}: {exc}") from exc
        except Exception as exc:
            raise SerdeError(f"schema registry {self.url} unreachable: {exc}") from exc
        result: dict[str, Any] = json.loads(schema.schema_str or "{}")
        return result

    def check(self, topic_subject: str, stem: str, schema: dict[str, Any]) -> Verdict:
        """Would ``schema`` be safe to roll out under its subject? Two tests against the latest
        registered version: the registry's own (its configured compatibility level), and the
        project's contract, both directions by Avro's checker, so that a change the registry
        accepts at BACKWARD but that breaks consumers still on the old schema (a removed
        required field) is refused too. A subject with no version yet accepts anything."""
        from confluent_kafka.schema_registry.error import SchemaRegistryError

        subject = self.subject(topic_subject, schema)
        try:
            latest = self._client.get_latest_version(subject)
            accepted = self._client.test_compatibility(subject, _avro(schema))
        except SchemaRegistryError as exc:
            if exc.error_code in (SUBJECT_NOT_FOUND, VERSION_NOT_FOUND):
                return Verdict(subject, stem, "new")
            raise SerdeError(f"schema registry {self.url}: {subject}: {exc}") from exc
        except Exception as exc:
            raise SerdeError(f"schema registry {self.url} unreachable: {exc}") from exc
        registered = json.loads(latest.schema.schema_str or "{}")
        if registered == schema:
            return Verdict(subject, stem, "unchanged")
        problems = compatibility_problems(registered, schema)
        if not accepted:
            problems.insert(0, "refused by the registry's compatibility level")
        return Verdict(subject, stem, "incompatible" if problems else "compatible", tuple(problems))


def check_catalogue(registry: Registry, topic_prefix: str = "") -> list[Verdict]:
    """Every topic's schema (as written in schemas/) against the registry, one verdict each."""
    from platestream import topics as catalogue
    from platestream.serde import SCHEMA_DIR, load_schema_file

    verdicts = []
    seen: set[str] = set()
    for topic in catalogue.ALL:
        schema = load_schema_file(SCHEMA_DIR / f"{topic.schema}.avsc")
        subject = registry.subject(f"{topic_prefix}{topic.name}-value", schema)
        if subject in seen:  # record strategy: topics sharing a record share a subject
            continue
        seen.add(subject)
        verdicts.append(registry.check(f"{topic_prefix}{topic.name}-value", topic.schema, schema))
    return verdicts
