"""`platestream topics tail`: any topic's records decoded to JSON, one line each.

Reads by assigning every partition (no consumer group, nothing committed), from the start or from
the end, and decodes each value with the project's serde (current schemas, frozen history, or the
registry by id). Binary fields (images) are shown by their length unless asked for base64.

Erased plates stay erased here too: the erasure ledger (``anpr.erasures.v1``, read to its end
first and followed) decides, as it does for the sink's projections, and a record of an erased
plate or event is shown by its place only (``"erased": true``, no key, headers or value); an audit
record shows ``[erased]`` for the plate searched. The topics still hold those records until their
retention removes them (docs/privacy.md): a consumer outside platestream can read them.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaException, TopicPartition

from platestream import topics as catalogue
from platestream.errors import PlatestreamError, SerdeError
from platestream.kafka import make_consumer, require_broker
from platestream.privacy.erasure import ErasureLedger
from platestream.privacy.follow import follow_ledger
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.state import StateFollower


@dataclass(frozen=True)
class TailOptions:
    from_beginning: bool = False
    max_records: int | None = None  # stop after this many
    idle_exit_s: float | None = None  # stop after this long without a record
    base64_bytes: bool = False


def resolve_topic(settings: CommonSettings, name: str) -> str:
    """A catalogue name gets the configured prefix; any other name is taken as given."""
    if settings.topic_prefix and any(t.name == name for t in catalogue.ALL):
        return settings.topic(name)
    return name


def jsonable(value: Any, *, base64_bytes: bool = False) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode() if base64_bytes else {"$bytes": len(value)}
    if isinstance(value, dict):
        return {k: jsonable(v, base64_bytes=base64_bytes) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v, base64_bytes=base64_bytes) for v in value]
    return value


def record_json(
    msg: Any,
    serde: AvroSerde,
    *,
    base64_bytes: bool = False,
    ledger: ErasureLedger | None = None,
) -> dict[str, Any]:
    """One record as a JSON-ready dict: where it is, its key and headers, its decoded value; only
    where it is when ``ledger`` says it is a copy of something erased."""
    where: dict[str, Any] = {
        "topic": msg.topic(),
        "partition": msg.partition(),
        "offset": msg.offset(),
        "timestamp": msg.timestamp()[1],
    }
    value = msg.value()
    schema, record, error = None, None, None
    if value is not None:
        try:
            schema, record = serde.decode_with_name(value)
        except SerdeError as exc:
            error = str(exc)
    if schema is not None and record is not None and ledger is not None and not ledger.empty():
        record = ledger.apply(schema, record)
        if record is None:
            return {**where, "erased": True}
    key = msg.key()
    out: dict[str, Any] = {
        **where,
        "key": key.decode("utf-8", "replace") if key is not None else None,
        "headers": {
            k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
            for k, v in (msg.headers() or [])
        },
    }
    if value is None:
        out["value"] = None  # a tombstone
    elif error is not None:
        out["error"] = error
        out["value_bytes"] = len(value)
    else:
        out["schema"] = schema
        out["value"] = jsonable(record, base64_bytes=base64_bytes)
    return out


def _assign(consumer: Consumer, topic: str, from_beginning: bool) -> None:
    md = consumer.list_topics(topic, timeout=10).topics.get(topic)
    if md is None or md.error is not None or not md.partitions:
        raise PlatestreamError(f"no topic {topic!r} on the broker")
    start = OFFSET_BEGINNING if from_beginning else OFFSET_END
    consumer.assign([TopicPartition(topic, p, start) for p in sorted(md.partitions)])


def tail(
    settings: CommonSettings,
    topic: str,
    opts: TailOptions,
    *,
    stop: Callable[[], bool] = lambda: False,
) -> Iterator[dict[str, Any]]:
    """Decoded records of ``topic`` as they arrive, until ``stop()``, the record limit or the idle
    limit."""
    require_broker(settings)
    serde = AvroSerde(settings=settings)
    ledger_consumer = Consumer(StateFollower.consumer_config(settings.kafka_common()))
    try:
        ledger, follower = follow_ledger(settings, ledger_consumer, serde)
    except (KafkaException, PlatestreamError) as exc:
        ledger_consumer.close()
        raise PlatestreamError(f"cannot read the erasure ledger: {exc}") from exc
    consumer = make_consumer(
        settings,
        "platestream-tail",  # never joins: partitions are assigned, nothing is committed
        **{"enable.auto.commit": False, "isolation.level": "read_uncommitted"},
    )
    try:
        _assign(consumer, topic, opts.from_beginning)
        seen = 0
        last = time.monotonic()
        while not stop():
            try:
                batch = consumer.consume(num_messages=500, timeout=0.5)
            except KafkaException as exc:
                raise PlatestreamError(f"cannot read {topic}: {exc}") from exc
            if follower is not None:
                follower.poll()
            for msg in batch:
                if msg.error() is not None:
                    continue
                yield record_json(msg, serde, base64_bytes=opts.base64_bytes, ledger=ledger)
                seen += 1
                if opts.max_records is not None and seen >= opts.max_records:
                    return
            if batch:
                last = time.monotonic()
            elif opts.idle_exit_s is not None and time.monotonic() - last >= opts.idle_exit_s:
                return
    finally:
        consumer.close()
        ledger_consumer.close()


def text_line(rec: dict[str, Any]) -> str:
    """The short form: ``topic[partition]@offset key schema {value}``."""
    where = f"{rec['topic']}[{rec['partition']}]@{rec['offset']}"
    if rec.get("erased"):
        return f"{where} [erased]"
    body = rec.get("error") or json.dumps(rec.get("value"), ensure_ascii=False, default=str)
    return f"{where} key={rec['key']} {rec.get('schema', '-')} {body}"
