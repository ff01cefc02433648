"""The S3 projection: inline images of camera events, plate reads and plate events -> the bucket.

Each image goes to the key ``image_slots`` computes from its record (sorted by camera and time),
with its content type and metadata; writing the same record twice writes the same object, so
re-delivery is harmless. Images that came by claim check (``s3_key`` set) are already in the
bucket and are not copied. Offsets are committed only after every put of the batch succeeded;
when the store is down the consumer pauses and the puts are retried with backoff. A record whose
object key cannot be built or that the client refuses before sending (a ValueError: not an
outage) is dead-lettered with its reason, never retried, so it cannot pause every partition.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from confluent_kafka import Consumer, Message, TopicPartition
from minio import Minio
from minio.commonconfig import ENABLED, Filter, Tag
from minio.lifecycleconfig import Expiration, LifecycleConfig, Rule

from platestream import topics as catalogue
from platestream.errors import BadInputError, SerdeError
from platestream.gaps import GapWatch, expect_committed, with_gaps
from platestream.limits import check_object_key
from platestream.privacy.erasure import ErasureLedger
from platestream.privacy.shredding import Shredded
from platestream.redact import store_redaction
from platestream.s3 import HIT, SHORT, TAG, ensure_bucket, retention_tags
from services.sink.batch import (
    commit_after_objects,
    not_a_record,
    position,
    retry_object_work,
)
from services.sink.image_retention import is_hit
from services.sink.imagekeys import ImageSlot, image_slots
from services.sink.s3loop import S3Loop

logger = logging.getLogger(__name__)

IMAGE_TOPICS = (catalogue.CAMERA_EVENTS, catalogue.PLATE_READS, catalogue.PLATE_EVENTS)
# Full frames are optional (PLATESTREAM_SINK_S3_FRAMES): they are large and short-lived.
LIFECYCLE_RULE_ID = "platestream-retention"  # objects tagged retention=short (or all, alone)
HIT_RULE_ID = "platestream-retention-hit"  # objects tagged retention=hit
UNTAGGED_RULE_ID = "platestream-retention-untagged"  # the bound for objects nobody tagged
FRAMES_RULE_ID = "platestream-retention-frames"  # frames stored for detect: the frames topic's days


def _tag_filter(value: str) -> Filter:
    return Filter(tag=Tag(TAG, value))


def lifecycle_rules(
    days: int, hit_days: int | None = None, frame_days: int | None = None
) -> list[Rule]:
    """The bucket's expiry rules (docs/privacy.md 3b).

    ``days`` (PLATESTREAM_S3_RETENTION_DAYS) is the short policy, ``hit_days`` the long one of a
    hit. S3 and MinIO rules select by prefix and tag, never by a missing tag, and where rules
    overlap the earliest expiry wins; so each class has its tag and rule, and a catch-all at the
    long days bounds objects that nobody tagged (written outside the sink) without cutting a hit
    short. Without a longer ``hit_days`` it is the one whole-bucket rule of before; ``days <= 0``
    sets none. Frames ingest stored for detect (``frames/``) are referenced by no row and kept
    ``frame_days`` (the frames topic's day) when that is shorter.
    """
    if days <= 0:
        return []
    frames = (
        [
            Rule(
                ENABLED,
                Filter(prefix="frames/"),
                FRAMES_RULE_ID,
                expiration=Expiration(days=frame_days),
            )
        ]
        if frame_days and 0 < frame_days < days
        else []
    )
    if not hit_days or hit_days <= days:
        return [
            Rule(ENABLED, Filter(prefix=""), LIFECYCLE_RULE_ID, expiration=Expiration(days=days)),
            *frames,
        ]
    return [
        Rule(ENABLED, _tag_filter(SHORT), LIFECYCLE_RULE_ID, expiration=Expiration(days=days)),
        Rule(ENABLED, _tag_filter(HIT), HIT_RULE_ID, expiration=Expiration(days=hit_days)),
        Rule(ENABLED, Filter(prefix=""), UNTAGGED_RULE_ID, expiration=Expiration(days=hit_days)),
        *frames,
    ]


def ensure_bucket_with_lifecycle(
    client: Minio,
    bucket: str,
    days: int,
    hit_days: int | None = None,
    frame_days: int | None = None,
) -> None:
    """Create the bucket if missing and set its expiry rules (idempotent)."""
    ensure_bucket(client, bucket)
    rules = lifecycle_rules(days, hit_days, frame_days)
    if rules:
        client.set_bucket_lifecycle(bucket, LifecycleConfig(rules))


@dataclass
class S3Stats:
    consumed: int = 0
    written: int = 0
    claim_checked: int = 0
    dead_lettered: int = 0
    outages: int = 0
    gaps: int = 0  # offset ranges the consumer skipped (read back before going on)
    erased: int = 0  # records of an erased plate or event, whose images are not stored


@dataclass(frozen=True)
class Put:
    slot: ImageSlot
    metadata: dict[str, str]
    where: str  # topic[partition]@offset, for logs
    msg: Any = None  # the consumed record, dead-lettered if the client refuses the put
    read_box: Any = None  # the record's plate_box: the plate redaction leaves untouched
    retention: str = SHORT  # the object's retention tag (image_retention.py)


def object_metadata(schema: str, rec: dict[str, Any], *, with_plate: bool) -> dict[str, str]:
    """x-amz-meta-* of an image: the owner id, camera and (when allowed) plate, URL-quoted (headers are ASCII)."""
    owner = {"plate_read": rec.get("read_id"), "frame": rec.get("frame_id")}.get(
        schema, rec.get("event_id")
    )
    meta = {"event-id": str(owner), "camera-id": str(rec["camera_id"]), "record": schema}
    if schema == "plate_read":
        meta["frame-id"] = str(rec.get("frame_id"))
    if with_plate and rec.get("plate"):
        meta["plate"] = str(rec["plate"])
    return {k: quote(v, safe="") for k, v in meta.items()}


class S3Sink(S3Loop):
    """Consumes records that may carry inline images and writes those images to the bucket."""

    pool_name = "s3put"

    def __init__(
        self,
        *,
        read_back: Callable[[str, int, range], list[Message]] | None = None,
        erasures: ErasureLedger | None = None,
        **parts: Any,
    ) -> None:
        super().__init__(**parts)
        settings = self.settings
        self.erasures = erasures  # images of the records it names are not stored
        self.read_back = read_back
        self.gaps = GapWatch()
        topics = IMAGE_TOPICS + ((catalogue.FRAMES,) if settings.sink_s3_frames else ())
        self.schemas = {settings.topic(t.name): t.schema for t in topics}
        self.stats = S3Stats()
        self.redaction = store_redaction(settings, self._put_original)
        self._putting = threading.local()  # the retention tag of the put this thread runs
        self.hit_days = settings.retention_days().get("plate_events")

    def ensure_bucket(self) -> None:
        ensure_bucket_with_lifecycle(
            self.s3,
            self.bucket,
            self.settings.s3_retention_days,
            self.hit_days,
            self.settings.s3_frame_retention_days,
        )

    def run(self) -> None:
        self.ensure_bucket()
        self.consumer.subscribe(
            list(self.schemas), on_assign=self._on_assign, on_revoke=self._on_revoke
        )
        logger.info("S3 sink running: %d topics -> bucket %s", len(self.schemas), self.bucket)
        try:
            while not self.stop.is_set():
                msgs = self.consumer.consume(num_messages=500, timeout=0.2)
                if msgs and self.read_back is not None:  # skipped offsets read back first
                    msgs, gaps = with_gaps(msgs, self.gaps, self.read_back)
                    self.stats.gaps += gaps
                if msgs:
                    self.process(msgs)
        finally:
            self._pool.shutdown(wait=True)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.read_back is not None:
            expect_committed(self.gaps, consumer, partitions)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.gaps.forget({(p.topic, p.partition) for p in partitions})

    def collect(self, msgs: list[Message]) -> tuple[list[Put], dict[tuple[str, int], int]]:
        latest: dict[str, Put] = {}
        offsets: dict[tuple[str, int], int] = {}
        for msg in msgs:
            if not_a_record(msg):
                continue
            self.stats.consumed += 1
            topic, partition, offset = position(msg)
            offsets[(topic, partition)] = offset + 1
            schema = self.schemas.get(topic)
            if schema is None:
                continue
            try:
                name, rec = self.serde.decode_with_name(msg.value())
                if name != schema:
                    raise SerdeError(f"record of schema {name} on a {schema} topic")
                slots = image_slots(schema, rec)
                for slot in slots:
                    if slot.data is not None:
                        check_object_key(slot.key)
            except Shredded:  # its plate's key is erased: nothing to store
                self.stats.erased += 1
                continue
            except (
                SerdeError,
                BadInputError,
                KeyError,
                TypeError,
                ValueError,
                OverflowError,
                OSError,
            ) as exc:
                self.dlq.record(msg, exc)
                self.stats.dead_lettered += 1
                continue
            if (
                self.erasures is not None
                and not self.erasures.empty()
                and self.erasures.erased(schema, rec)
            ):
                self.stats.erased += 1
                continue
            where = f"{topic}[{partition}]@{offset}"
            meta = object_metadata(schema, rec, with_plate=self.settings.sink_s3_plate_metadata)
            retention = HIT if schema == "plate_event" and is_hit(rec) else SHORT
            for slot in slots:
                if slot.data is None:
                    self.stats.claim_checked += 1
                    continue
                # Versions of one event in one batch write one key: the last put wins, and runs
                # alone (puts run in parallel), tagged hit if any version was a hit.
                earlier = latest.pop(slot.key, None)
                tag = HIT if earlier is not None and earlier.retention == HIT else retention
                latest[slot.key] = Put(slot, meta, where, msg, rec.get("plate_box"), tag)
        return list(latest.values()), offsets

    def _put(self, put: Put) -> None:
        data = put.slot.data or b""
        self._putting.retention = put.retention
        if self.redaction is not None:  # faces and other plates blurred (docs/privacy.md)
            data = self.redaction.prepare(put.slot.key, put.slot.kind, data, put.read_box)
        self.s3.put_object(
            self.bucket,
            put.slot.key,
            io.BytesIO(data),
            len(data),
            content_type=put.slot.content_type,
            metadata=put.metadata,  # type: ignore[arg-type]
            tags=retention_tags(put.retention),
        )

    def _put_original(self, key: str, data: bytes) -> None:
        retention = getattr(self._putting, "retention", SHORT)
        self.s3.put_object(
            self.bucket, key, io.BytesIO(data), len(data), tags=retention_tags(retention)
        )

    def process(self, msgs: list[Message]) -> None:
        puts, offsets = self.collect(msgs)

        def missing_bucket(failed: list[tuple[Put, BaseException]]) -> None:
            if any("NoSuchBucket" in str(e) for _, e in failed):
                self.ensure_bucket()

        finished, written = retry_object_work(self, puts, self._put, "puts", missing_bucket)
        self.stats.written += written
        if finished:  # else stopped: nothing committed, re-delivered on restart
            commit_after_objects(self, offsets, "images will be rewritten (same keys)")
