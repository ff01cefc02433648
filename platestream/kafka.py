"""Kafka clients with the project's defaults, and idempotent topic creation."""

from __future__ import annotations

import logging
import ssl
import time
from collections.abc import Iterable, Iterator
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    Producer,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient, NewTopic

from platestream import topics as catalogue
from platestream.errors import PlatestreamError
from platestream.heartbeat import HeartbeatConsumer
from platestream.settings import CommonSettings

logger = logging.getLogger(__name__)


def producer_config(settings: CommonSettings, **overrides: Any) -> dict[str, Any]:
    """Idempotent, acks=all producer: an acknowledged record is durably in the log, once."""
    conf: dict[str, Any] = {
        **settings.kafka_common(),
        "enable.idempotence": True,
        "acks": "all",
        "linger.ms": 5,
        "compression.type": "lz4",
        "message.max.bytes": 8 * 1024 * 1024,
        "queue.buffering.max.messages": 200_000,
    }
    conf.update(overrides)
    return conf


def consumer_config(settings: CommonSettings, group_id: str, **overrides: Any) -> dict[str, Any]:
    """Manual-commit consumer; short session timeout because the local broker joins slowly."""
    conf: dict[str, Any] = {
        **settings.kafka_common(),
        "group.id": group_id,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 500,
        "fetch.max.bytes": 16 * 1024 * 1024,
        "max.partition.fetch.bytes": 8 * 1024 * 1024,
        "isolation.level": "read_committed",
    }
    conf.update(overrides)
    return conf


def kafka_ssl_context(settings: CommonSettings) -> ssl.SSLContext | None:
    """The TLS context of the Python (aiokafka/faust) clients: the same CA, client certificate and
    hostname check as librdkafka's ``ssl.*`` keys; None when the protocol has no TLS."""
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    ca = settings.kafka_ssl_ca_location
    context = ssl.create_default_context(cafile=str(ca) if ca else None)
    context.check_hostname = settings.kafka_ssl_check_hostname
    if settings.kafka_ssl_certificate_location and settings.kafka_ssl_key_location:
        context.load_cert_chain(
            str(settings.kafka_ssl_certificate_location),
            str(settings.kafka_ssl_key_location),
            password=settings.kafka_ssl_key_password,
        )
    return context


def faust_credentials(settings: CommonSettings) -> Any:
    """The Kafka security settings as faust credentials (None for PLAINTEXT): SASLCredentials for
    SASL_PLAINTEXT and SASL_SSL (with the TLS context), SSLCredentials for SSL."""
    import faust

    protocol = settings.kafka_security_protocol
    context = kafka_ssl_context(settings)
    if protocol.startswith("SASL_"):
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username or "",
            password=settings.kafka_sasl_password or "",
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def delivery_problem(err: Any, msg: Any) -> str | None:
    """What is wrong with a delivery report, or None when the record is in the log.

    A report without an offset is not proof of a write: after a restart the local broker answered
    a retried batch as a duplicate (librdkafka counts that as delivered) that it had not kept
    (docs/faults.md). Producers whose ack means "stored" (ingest answers cameras, enrich and
    detect commit their input) treat it as a failure and retry with the same ids.
    """
    if err is not None:
        return str(err)
    offset = msg.offset()
    if offset is None or offset < 0:
        return "broker acknowledged without an offset; not counted as written"
    return None


def read_offsets(
    consumer: Consumer, topic: str, partition: int, offsets: range, timeout_s: float
) -> list[Message]:
    """The records at ``offsets`` of one partition (fewer where the log has none), read by
    assigning ``consumer`` there; returns once past the range or after ``timeout_s``."""
    consumer.assign([TopicPartition(topic, partition, offsets.start)])
    out: list[Message] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for msg in consumer.consume(num_messages=500, timeout=min(0.5, timeout_s)):
            off = msg.offset()
            if msg.error() is not None or off is None:
                continue
            if off in offsets:
                out.append(msg)
            if off >= offsets.stop - 1:
                return out
    return out


def read_to_end(
    consumer: Consumer, topics: Iterable[str], *, stall_s: float, strict: bool = True
) -> Iterator[Message]:
    """Every record now in ``topics``, each partition read from its start until ``consumer``
    (made with ``enable.partition.eof``) reports its end: the local broker's high watermark can
    lag a batch, the end-of-partition event comes after the last record. When ``stall_s`` pass
    without a record or an end: TimeoutError, or (not ``strict``) the records read so far."""
    assignment = []
    for topic in topics:
        info = consumer.list_topics(topic, timeout=min(stall_s, 10.0)).topics.get(topic)
        if info is not None and info.error is None:
            assignment += [TopicPartition(topic, p, OFFSET_BEGINNING) for p in info.partitions]
    if not assignment:
        return
    consumer.assign(assignment)
    pending = {(tp.topic, tp.partition) for tp in assignment}
    deadline = time.monotonic() + stall_s
    while pending:
        if time.monotonic() > deadline:
            if not strict:
                return
            raise TimeoutError(f"nothing read for {stall_s} s, {sorted(pending)} unfinished")
        msgs = consumer.consume(num_messages=1000, timeout=0.2)
        if msgs:
            deadline = time.monotonic() + stall_s
        for msg in msgs:
            err = msg.error()
            if err is None:
                yield msg
            elif err.code() == KafkaError._PARTITION_EOF:
                pending.discard((str(msg.topic()), int(msg.partition() or 0)))


def make_producer(settings: CommonSettings, **overrides: Any) -> Producer:
    return Producer(producer_config(settings, **overrides))


def make_consumer(settings: CommonSettings, group_id: str, **overrides: Any) -> Consumer:
    """A consumer whose subscribed loop beats the liveness heartbeat (platestream/heartbeat.py)."""
    return HeartbeatConsumer(consumer_config(settings, group_id, **overrides))


def make_admin(settings: CommonSettings) -> AdminClient:
    conf: dict[str, Any] = dict(settings.kafka_common())
    return AdminClient(conf)


def require_broker(settings: CommonSettings, timeout: float = 10.0) -> None:
    """Raise one clear error when no broker answers within ``timeout`` seconds, instead of
    librdkafka's line per refused connection (the probe's client logs nothing)."""
    probe = AdminClient({**settings.kafka_common(), "log_level": 0})
    try:
        probe.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise PlatestreamError(
            f"cannot reach the Kafka broker at {settings.kafka_bootstrap} within {timeout:g} s "
            "(start it with `platestream stack up`, or set PLATESTREAM_KAFKA_BOOTSTRAP)"
        ) from exc


def create_topics(
    settings: CommonSettings,
    topics: Iterable[catalogue.Topic] = catalogue.ALL,
    *,
    timeout: float = 30.0,
) -> dict[str, str]:
    """Create the catalogue's topics that do not exist yet. Returns name -> created | exists."""
    require_broker(settings, timeout)
    admin = make_admin(settings)
    wanted = {settings.topic(t.name): t for t in topics}
    existing = set(admin.list_topics(timeout=timeout).topics)
    result = {name: "exists" for name in wanted if name in existing}
    new = [
        NewTopic(
            name,
            num_partitions=catalogue.partitions_for(t, settings),
            replication_factor=settings.replication_factor,
            config=t.config(),
        )
        for name, t in wanted.items()
        if name not in existing
    ]
    if new:
        for name, fut in admin.create_topics(new, operation_timeout=timeout).items():
            try:
                fut.result()
                result[name] = "created"
            except KafkaException as exc:
                err = exc.args[0]
                if err.code() == 36:  # TOPIC_ALREADY_EXISTS: a concurrent creator won
                    result[name] = "exists"
                else:
                    raise PlatestreamError(f"cannot create topic {name}: {err.str()}") from exc
    return result


def delivery_failed(err: Any) -> str | None:
    """Text of a delivery error, or None."""
    return None if err is None else str(err)
