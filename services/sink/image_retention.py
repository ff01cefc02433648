"""Retention by purpose in the bucket: the images of a watchlist hit are tagged to be kept longer.

The S3 sink stores an image when its record arrives, before enrich knows whether the passage is a
hit, and S3 lifecycle rules can select objects by prefix and tag but not by "lacks a tag". So every
image carries a ``retention`` tag and the bucket has one rule per value (``s3_sink.lifecycle_rules``):
``short`` expires after ``s3_retention_days``, ``hit`` after the plate events' long retention. This
loop follows ``anpr.plate-events.v1`` in its own consumer group and tags the images each event
references (best crop, scene and vehicle images, and their unredacted ``originals/`` copies):

- an event with watchlist hits, ``access_status == 'watchlisted'`` or a ``correction_id`` (the
  same rule as ClickHouse's migration 007): ``retention=hit``, whatever the tag was;
- any other event: ``retention=short``, only on an image without a retention tag (crops stored by
  detect, not by the sink); a ``hit`` is never taken back, so a replay of an older version of the
  event, or a second event sharing the image, cannot shorten it.

Idempotent (the tag is read first and set only when it changes; setting the same tags twice is
harmless) and replay-safe. A missing object is not an error (expired, never written, or erased):
it is counted. A record that cannot be decoded or whose keys cannot be built is dead-lettered with
its reason; a store outage pauses the partitions and retries with backoff, committing nothing.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Message
from minio.error import S3Error
from minio.helpers import check_object_name

from platestream import topics as catalogue
from platestream.errors import BadInputError, SerdeError
from platestream.limits import check_object_key
from platestream.s3 import HIT, MISSING, SHORT, TAG, retention_tags
from services.sink.batch import (
    commit_after_objects,
    not_a_record,
    position,
    retry_object_work,
)
from services.sink.imagekeys import image_slots
from services.sink.s3loop import S3Loop

logger = logging.getLogger(__name__)

ORIGINALS = "originals/"


def is_hit(rec: dict[str, Any]) -> bool:
    """A passage kept under the long policy: a watchlist hit, watchlisted, or corrected in review."""
    return bool(
        rec.get("watchlist_hits")
        or rec.get("access_status") == "watchlisted"
        or rec.get("correction_id")
    )


@dataclass
class RetentionStats:
    consumed: int = 0
    tagged_hit: int = 0
    tagged_short: int = 0
    unchanged: int = 0
    missing: int = 0
    dead_lettered: int = 0
    outages: int = 0


@dataclass(frozen=True)
class Mark:
    key: str
    value: str  # HIT: always; SHORT: only where no retention tag is set yet
    where: str  # topic[partition]@offset, for logs
    msg: Any = None  # the consumed record, dead-lettered if the client refuses the key


def _checked(key: str) -> str:
    """The key, if both the project's rule and the S3 client take it; else BadInputError (a key
    the client refuses before sending would otherwise be retried for ever)."""
    check_object_key(key)
    try:
        check_object_name(key)
    except (TypeError, ValueError) as exc:
        raise BadInputError(f"object key {key[:120]!r} refused by the S3 client") from exc
    return key


def event_marks(
    rec: dict[str, Any], where: str, *, originals: bool = False, msg: Any = None
) -> list[Mark]:
    """The tags one plate event asks for: each image key it references (and, with ``originals``,
    its unredacted copy). An inline image of a passage without a hit needs none: the S3 sink
    tagged it ``short`` when it stored it."""
    hit = is_hit(rec)
    marks = []
    for slot in image_slots("plate_event", rec):
        _checked(slot.key)
        if not hit and slot.data is not None:
            continue
        value = HIT if hit else SHORT
        marks.append(Mark(slot.key, value, where, msg))
        if originals and not slot.key.startswith(ORIGINALS):
            marks.append(Mark(_checked(ORIGINALS + slot.key), value, where, msg))
    return marks


class ImageRetention(S3Loop):
    """Consumes plate events and tags the images of each with its retention class."""

    pool_name = "s3tag"

    def __init__(self, **parts: Any) -> None:
        super().__init__(**parts)
        self.topic = self.settings.topic(catalogue.PLATE_EVENTS.name)
        self.stats = RetentionStats()
        self._lock = threading.Lock()

    def run(self) -> None:
        self.consumer.subscribe([self.topic])
        logger.info("image retention running: %s -> tags in bucket %s", self.topic, self.bucket)
        try:
            while not self.stop.is_set():
                msgs = self.consumer.consume(num_messages=500, timeout=0.2)
                if msgs:
                    self.process(msgs)
        finally:
            self._pool.shutdown(wait=True)

    def collect(self, msgs: list[Message]) -> tuple[list[Mark], dict[tuple[str, int], int]]:
        marks: list[Mark] = []
        offsets: dict[tuple[str, int], int] = {}
        for msg in msgs:
            if not_a_record(msg):
                continue
            self.stats.consumed += 1
            topic, partition, offset = position(msg)
            offsets[(topic, partition)] = offset + 1
            try:
                name, rec = self.serde.decode_with_name(msg.value())
                if name != catalogue.PLATE_EVENTS.schema:
                    raise SerdeError(f"record of schema {name} on a plate_event topic")
                marks += event_marks(
                    rec,
                    f"{topic}[{partition}]@{offset}",
                    originals=self.settings.sink_s3_redact_keep_originals,
                    msg=msg,
                )
            except (
                SerdeError,
                BadInputError,
                KeyError,
                TypeError,
                ValueError,
                OverflowError,
            ) as exc:
                self.dlq.record(msg, exc)
                self.stats.dead_lettered += 1
        return marks, offsets

    def _count(self, field: str) -> None:
        with self._lock:
            setattr(self.stats, field, getattr(self.stats, field) + 1)

    def mark(self, mark: Mark) -> None:
        """Set the tag the mark asks for, unless it is there already (or would shorten a hit)."""
        try:
            current = self.s3.get_object_tags(self.bucket, mark.key)
        except S3Error as exc:
            if exc.code in MISSING:
                self._count("missing")
                return
            raise
        now = dict(current or {})
        if now.get(TAG) == mark.value or (mark.value == SHORT and TAG in now):
            self._count("unchanged")
            return
        tags = retention_tags(mark.value)
        for k, v in now.items():  # other tags are kept
            if k != TAG:
                tags[k] = v
        try:
            self.s3.set_object_tags(self.bucket, mark.key, tags)
        except S3Error as exc:
            if exc.code in MISSING:  # deleted between the two calls
                self._count("missing")
                return
            raise
        self._count("tagged_hit" if mark.value == HIT else "tagged_short")

    def process(self, msgs: list[Message]) -> None:
        marks, offsets = self.collect(msgs)
        finished, _ = retry_object_work(self, marks, self.mark, "tagging")
        if finished:  # else stopped: nothing committed, re-delivered on restart (idempotent)
            commit_after_objects(self, offsets, "events will be tagged again (idempotent)")
