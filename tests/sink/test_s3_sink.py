"""The S3 projection: inline images land at their keys with type and metadata; claim checks are not copied."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from platestream.s3 import make_s3
from platestream.timeutil import now_ms
from services.sink import samples
from services.sink.imagekeys import image_slots
from services.sink.s3_sink import (
    FRAMES_RULE_ID,
    HIT_RULE_ID,
    LIFECYCLE_RULE_ID,
    UNTAGGED_RULE_ID,
    ensure_bucket_with_lifecycle,
)
from tests.sink.helpers import produce, sink_settings, sink_thread, wait_until

pytestmark = pytest.mark.integration


def _produce_frame(s, frame: dict) -> None:
    from platestream.kafka import make_producer
    from platestream.serde import AvroSerde

    topic = s.topic("anpr.frames.v1")
    producer = make_producer(s)
    producer.produce(
        topic, key=b"cam-1", value=AvroSerde().encode("frame", frame, subject=f"{topic}-value")
    )
    assert producer.flush(30) == 0


def _exists(s3, bucket: str, key: str) -> bool:
    from minio.error import S3Error

    try:
        s3.stat_object(bucket, key)
        return True
    except S3Error:
        return False


def test_inline_images_are_written_once_at_their_keys(settings) -> None:
    s = sink_settings(settings, s3_retention_days=30)
    s3 = make_s3(s)
    base = now_ms() - 60_000
    event = samples.plate_event(1, base_ts=base, with_images=True)
    read = samples.plate_read(2, base_ts=base, with_crop=True)
    camera = samples.camera_event(3, base_ts=base, with_images=True)
    claim = samples.plate_read(4, base_ts=base, s3_key="crops/cam/claim-checked.jpg")
    produce(s, "plate_events", [event, event])  # delivered twice: same key, same object
    produce(s, "plate_reads", [read, claim])
    produce(s, "camera_events", [camera])
    written = [
        slot
        for schema, rec in (("plate_event", event), ("plate_read", read), ("camera_event", camera))
        for slot in image_slots(schema, rec)
    ]
    assert len(written) == 5
    with sink_thread(s, {"s3"}):
        wait_until(
            lambda: all(_exists(s3, s.s3_bucket, slot.key) for slot in written), 60, "5 objects"
        )
    stat = s3.stat_object(s.s3_bucket, written[0].key)
    assert stat.content_type == "image/jpeg"
    meta = {k.lower(): unquote(v) for k, v in (stat.metadata or {}).items()}
    assert meta["x-amz-meta-event-id"] == event["event_id"]
    assert meta["x-amz-meta-camera-id"] == event["camera_id"]
    assert meta["x-amz-meta-plate"] == event["plate"]
    body = s3.get_object(s.s3_bucket, written[0].key)
    assert body.read() == samples.TINY_JPEG
    body.close()
    keys = {o.object_name for o in s3.list_objects(s.s3_bucket, recursive=True)}
    assert keys == {
        slot.key for slot in written
    }  # nothing for the claim-checked crop, no duplicates
    rules = s3.get_bucket_lifecycle(s.s3_bucket).rules
    # retention by purpose (test_image_retention.py): short-tagged, hit-tagged, untagged bound,
    # and the frames ingest stores for detect kept as long as the frames topic (1 day)
    assert [(r.rule_id, r.expiration.days) for r in rules] == [
        (LIFECYCLE_RULE_ID, 30),
        (HIT_RULE_ID, 365),
        (UNTAGGED_RULE_ID, 365),
        (FRAMES_RULE_ID, 1),
    ]
    assert {s3.get_object_tags(s.s3_bucket, slot.key)["retention"] for slot in written} == {"short"}


def test_plate_metadata_can_be_withheld_and_frames_stored_when_asked(settings) -> None:
    s = sink_settings(settings, sink_s3_plate_metadata=False, sink_s3_frames=True)
    s3 = make_s3(s)
    ensure_bucket_with_lifecycle(s3, s.s3_bucket, 7)
    read = samples.plate_read(2, base_ts=now_ms(), with_crop=True)
    produce(s, "plate_reads", [read])
    key = image_slots("plate_read", read)[0].key
    ts = now_ms()
    frame = {
        "frame_id": "frame-1",
        "camera_id": "cam-1",
        "source": "rtsp",
        "seq": 1,
        "ts": ts,
        "received_at": ts,
        "width": 1,
        "height": 1,
        "image": samples.image("frame"),
        "job_id": None,
        "plate_formats": None,
    }
    _produce_frame(s, frame)
    frame_key = image_slots("frame", frame)[0].key
    with sink_thread(s, {"s3"}):
        wait_until(
            lambda: _exists(s3, s.s3_bucket, key) and _exists(s3, s.s3_bucket, frame_key),
            60,
            "crop and frame",
        )
    assert frame_key.startswith("frames/cam-1/")
    meta = {k.lower() for k in (s3.stat_object(s.s3_bucket, key).metadata or {})}
    assert "x-amz-meta-camera-id" in meta and "x-amz-meta-plate" not in meta
