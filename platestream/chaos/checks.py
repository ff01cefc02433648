"""Checks of the fault suite against ClickHouse and the topics: what was stored, merged, alerted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from platestream.settings import CommonSettings

logger = logging.getLogger(__name__)

# -- checks against ClickHouse, the bucket and the webhook -----------------------------------------

STORED_SQL = "SELECT DISTINCT event_id FROM {db}.camera_events WHERE event_id IN %(ids)s"
# Camera event ids merged into a passage (plate event): device events are their passage's reads.
IN_PASSAGE_SQL = (
    "SELECT DISTINCT arrayJoin(read_ids) AS r FROM {db}.plate_events"
    " WHERE hasAny(read_ids, %(ids)s) AND r IN %(ids)s"
)
# Camera event ids whose passage raised an alert.
ALERTED_SQL = (
    "SELECT DISTINCT arrayJoin(read_ids) AS r FROM {db}.plate_events"
    " WHERE event_id IN (SELECT event_id FROM {db}.alerts) AND r IN %(ids)s"
)


def found_ids(client: Any, db: str, ids: list[str], sql: str = STORED_SQL) -> set[str]:
    found: set[str] = set()
    for k in range(
        0, len(ids), 2000
    ):  # 2,000 ids (twice in some queries) stay under max_query_size
        chunk = ids[k : k + 2000]
        rows = client.query(sql.format(db=db), parameters={"ids": chunk}).result_rows
        found.update(str(r[0]) for r in rows)
    return found


def stored_ids(client: Any, db: str, ids: list[str]) -> set[str]:
    return found_ids(client, db, ids, STORED_SQL)


def wait_found(
    client_factory: Callable[[], Any],
    db: str,
    ids: list[str],
    timeout_s: float,
    sql: str = STORED_SQL,
) -> float | None:
    """Seconds until the query finds every id, or None after ``timeout_s``. Survives ClickHouse errors."""
    t0 = time.monotonic()
    remaining = list(ids)
    client = None
    while time.monotonic() - t0 < timeout_s:
        try:
            client = client or client_factory()
            found = found_ids(client, db, remaining, sql)
            remaining = [i for i in remaining if i not in found]
            if not remaining:
                return round(time.monotonic() - t0, 2)
        except Exception as exc:
            logger.debug("id poll failed: %s", exc)
            client = None
        time.sleep(0.5)
    return None


def wait_stored(
    client_factory: Callable[[], Any], db: str, ids: list[str], timeout_s: float
) -> float | None:
    return wait_found(client_factory, db, ids, timeout_s, STORED_SQL)


def scan_topic(
    settings: CommonSettings,
    topic: str,
    ids: set[str],
    key_field: str = "event_id",
    timeout_s: float = 120.0,
) -> dict[str, tuple[int, int]]:
    """Where (partition, offset) each of ``ids`` sits in ``topic``, read from the start (diagnosis)."""
    import uuid

    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from platestream.kafka import make_consumer
    from platestream.serde import AvroSerde

    serde = AvroSerde(settings=settings)
    consumer = make_consumer(settings, f"chaos-scan-{uuid.uuid4().hex[:8]}")
    found: dict[str, tuple[int, int]] = {}
    try:
        meta = consumer.list_topics(topic, timeout=10).topics[topic]
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in meta.partitions])
        deadline = time.monotonic() + timeout_s
        idle_since = time.monotonic()
        while (
            time.monotonic() < deadline
            and time.monotonic() - idle_since < 15.0  # re-reads are slow on the local S3 engine
            and len(found) < len(ids)
        ):
            batch = consumer.consume(num_messages=1000, timeout=0.5)
            if batch:
                idle_since = time.monotonic()
            for msg in batch:
                if msg.error() is not None or msg.value() is None:
                    continue
                try:
                    rid = str(serde.decode(msg.value()).get(key_field))
                except Exception:
                    continue
                if rid in ids:
                    found[rid] = (int(msg.partition() or 0), int(msg.offset() or 0))
    finally:
        consumer.close()
    return found
