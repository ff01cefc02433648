"""End to end on the local stack: sim frames in (inline and claim check), PlateReads out, crops in
the bucket, offsets committed, an undecodable frame dead-lettered with its original bytes."""

from __future__ import annotations

import threading
import time
from io import BytesIO

import cv2
import pytest

from platestream import topics as catalogue
from platestream.dlq import DeadLetters
from platestream.ids import stable_id
from platestream.images import image_key
from platestream.kafka import make_consumer, make_producer
from platestream.s3 import make_s3
from platestream.serde import AvroSerde
from services.detect.metrics import DetectMetrics
from services.detect.processor import DetectProcessor
from services.detect.settings import DetectSettings

sim = pytest.importorskip("services.ingest.sim")

TIMES = (2.4, 4.2, 6.3)


def _frame_record(camera: str, seq: int, t: float, image: dict) -> dict:
    ts = 1_763_700_000_000 + int(t * 1000)
    return {
        "frame_id": stable_id(camera, "sim", "test", seq),
        "camera_id": camera,
        "source": "sim",
        "seq": seq,
        "ts": ts,
        "received_at": ts + 5,
        "width": 1280,
        "height": 720,
        "image": image,
        "job_id": None,
        "plate_formats": ["GB", "US"],
    }


def _consume_all(consumer, until, timeout: float = 120.0) -> list:  # type: ignore[no-untyped-def]
    got: list = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(got):
        got.extend(m for m in consumer.consume(100, 0.5) if not m.error())
    return got


@pytest.mark.integration
def test_frames_in_reads_out_crops_stored_offsets_committed(settings, pipeline) -> None:
    ds = DetectSettings(
        **settings.model_dump(),
        detect_metrics_port=0,
        detect_workers=2,
        detect_queue_size=2,
        detect_batch_size=2,
    )
    serde = AvroSerde(ds.schema_registry_url)
    s3 = make_s3(ds)
    producer = make_producer(ds)
    frames_topic = ds.topic(catalogue.FRAMES.name)
    expected: dict[str, set[str]] = {}
    records = []
    for seq, t in enumerate(TIMES):
        img, truth = sim.render_frame(7, t)
        jpeg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
        image = {
            "kind": "frame",
            "content_type": "image/jpeg",
            "data": jpeg,
            "s3_key": None,
            "width": 1280,
            "height": 720,
            "sha256": None,
        }
        rec = _frame_record("cam-a", seq, t, image)
        if seq == 1:  # claim check: the frame is in the bucket, the record carries only its key
            key = image_key("frames", "cam-a", rec["ts"], rec["frame_id"], "frame")
            s3.put_object(ds.s3_bucket, key, BytesIO(jpeg), len(jpeg), content_type="image/jpeg")
            image.update(data=None, s3_key=key)
        expected[rec["frame_id"]] = {g["plate"] for g in truth if g["plate_fully_visible"]}
        records.append(rec)
    bad = _frame_record(
        "cam-b",
        99,
        1.0,
        {
            "kind": "frame",
            "content_type": "image/jpeg",
            "data": b"not a jpeg",
            "s3_key": None,
            "width": None,
            "height": None,
            "sha256": None,
        },
    )
    bad_value = serde.encode("frame", bad, subject=f"{frames_topic}-value")
    for rec in records:
        producer.produce(
            frames_topic, key=rec["camera_id"].encode(), value=serde.encode("frame", rec)
        )
    producer.produce(frames_topic, key=b"cam-b", value=bad_value)
    assert producer.flush(30) == 0
    del producer  # librdkafka clients are destroyed with their object; none outlives the test
    assert sum(len(v) for v in expected.values()) >= 3

    consumer = make_consumer(ds, ds.topic_prefix + ds.detect_group_id)
    out_producer = make_producer(ds)
    stop = threading.Event()
    metrics = DetectMetrics()
    proc = DetectProcessor(
        settings=ds,
        consumer=consumer,
        producer=out_producer,
        serde=serde,
        s3=s3,
        pipeline=pipeline,
        metrics=metrics,
        dead_letters=DeadLetters(stage="detect", producer=out_producer, serde=serde, settings=ds),
        stop=stop,
    )
    worker = threading.Thread(target=proc.run, daemon=True)
    worker.start()
    reader = make_consumer(ds, f"{ds.topic_prefix}test-reads")
    reader.subscribe([ds.topic(catalogue.PLATE_READS.name)])
    dlq = make_consumer(ds, f"{ds.topic_prefix}test-dlq")
    dlq.subscribe([ds.topic(catalogue.dead_letter_topic("detect").name)])
    try:
        n_expected = sum(len(v) for v in expected.values())
        msgs = _consume_all(reader, lambda got: len(got) >= n_expected)
        dead = _consume_all(dlq, lambda got: len(got) >= 1, timeout=60)
        deadline = time.monotonic() + 60
        while proc.frames_done < len(records) + 1 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        stop.set()
        worker.join(60)
        consumer.close()
        out_producer.flush(10)
        del proc, out_producer
        reader.close()
        dlq.close()
    assert not worker.is_alive()

    reads = [serde.decode(m.value()) for m in msgs]
    got: dict[str, set[str]] = {}
    for m, r in zip(msgs, reads, strict=True):
        assert m.key() == r["camera_id"].encode()
        got.setdefault(r["frame_id"], set()).add(r["plate"])
        frame = next(f for f in records if f["frame_id"] == r["frame_id"])
        assert r["received_at"] == frame["received_at"] and r["ts"] == frame["ts"]
        assert r["read_id"] in {stable_id(r["frame_id"], i) for i in range(5)}
        assert r["crop"]["s3_key"] == image_key("crops", "cam-a", r["ts"], r["read_id"], "plate")
        stored = s3.get_object(ds.s3_bucket, r["crop"]["s3_key"]).read()
        assert stored[:3] == b"\xff\xd8\xff"
        assert dict(s3.get_object_tags(ds.s3_bucket, r["crop"]["s3_key"]) or {}) == {
            "retention": "short"
        }
        if r["crop"]["data"] is not None:
            assert r["crop"]["data"] == stored
        assert len(r["char_confidences"]) == len(r["plate"])
        assert r["candidates"] and r["candidates"][0]["plate"] == r["plate"]
    assert got == expected

    (dl,) = [serde.decode(m.value()) for m in dead]
    assert dl["value"] == bad_value and dl["stage"] == "detect"

    # offsets: every frame (the dead-lettered one too) is committed
    check = make_consumer(ds, ds.topic_prefix + ds.detect_group_id)
    try:
        meta = check.list_topics(frames_topic, timeout=10).topics[frames_topic]
        from confluent_kafka import TopicPartition

        committed = check.committed(
            [TopicPartition(frames_topic, p) for p in meta.partitions], timeout=10
        )
        total = sum(tp.offset for tp in committed if tp.offset >= 0)
        assert total == len(records) + 1
    finally:
        check.close()
    assert metrics.frames.labels("ok")._value.get() == len(records)
    assert metrics.dead_letters._value.get() == 1
