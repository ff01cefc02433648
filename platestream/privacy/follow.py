"""The erasure ledger read from ``anpr.erasures.v1``: every reader of the log that must not show
an erased plate again (the sink's projections, `platestream topics tail`) builds it here."""

from __future__ import annotations

import logging

from confluent_kafka import Consumer

from platestream import topics as catalogue
from platestream.privacy.erasure import ErasureLedger
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.state import StateFollower

logger = logging.getLogger(__name__)


def topic_exists(consumer: Consumer, topic: str, timeout_s: float = 10.0) -> bool:
    md = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
    return md is not None and md.error is None and bool(md.partitions)


def follow_ledger(
    settings: CommonSettings, consumer: Consumer, serde: AvroSerde, timeout_s: float = 60.0
) -> tuple[ErasureLedger, StateFollower | None]:
    """The ledger of every erasure so far, read to the end of the topic; poll the follower for
    more. A record that is not a valid request is logged and skipped (the sink's erasure loop
    dead-letters it). Without the topic (a deployment that has not created it yet) the ledger
    starts empty and there is nothing to follow: no erasure can have been requested."""
    ledger = ErasureLedger(key=settings.privacy_subject_key)
    topic = settings.topic(catalogue.ERASURES.name)
    if not topic_exists(consumer, topic):
        logger.warning("no erasure topic %s: nothing is filtered", topic)
        return ledger, None
    follower = StateFollower(
        consumer=consumer,
        serde=serde,
        tables={topic: lambda _key, rec: ledger.add(rec) if rec is not None else None},
    )
    follower.start(timeout_s)
    logger.info("erasure ledger: %d requests", ledger.requests)
    return ledger, follower
