"""Crypto-shredding on the real broker, bucket and ClickHouse (issue 17 item 2): with
``privacy_seal_topics`` on, the topics hold no plate and no inline image in clear, a consumer with
the registry alone reads sealed text, the sink stores plates as before; erasing a plate deletes its
keys, after which no copy of its records in any topic opens (for a fresh stage, a replay or a
rebuild) while other plates' do, and a rebuild from the log stores the others only. The rules
alone: tests/privacy/test_shredding.py."""

from __future__ import annotations

import time
from typing import Any

import pytest

from platestream import topics as catalogue
from platestream.kafka import make_consumer, make_producer
from platestream.privacy.erasure import plate_request, subject_id
from platestream.privacy.retention import subject_key_report
from platestream.privacy.shredding import TEXT_MARK, Shredded, key_bucket, shredder_for
from platestream.s3 import make_s3
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from services.sink import samples
from services.sink.rows import BY_TABLE
from services.sink.s3_sink import ensure_bucket_with_lifecycle
from tests.sink.helpers import (
    migrated,
    produce,
    raw_values,
    scalar,
    sink_settings,
    sink_thread,
    wait_until,
)

ERASED, KEPT = "ERA5E01", "KEEP001"
MISREAD = "ERA5E0I"  # one read of ERASED's passage, read as a plate no other passage has
KEY = "test-subject-key"
TABLES = {
    "plate_reads": "plate_read",
    "plate_events": "plate_event",
    "camera_events": "camera_event",
}


def _records(base: int) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {t: [] for t in TABLES}
    for i, plate in ((1, ERASED), (2, KEPT)):
        read = samples.plate_read(i, base_ts=base, with_crop=True)
        read.update(plate=plate, plate_raw=plate, candidates=[{"plate": plate, "confidence": 0.9}])
        out["plate_reads"].append(read)
        event = samples.plate_event(i, base_ts=base, with_images=True, plate=plate)
        event["variants"] = [plate]
        out["plate_events"].append(event)
        cam = samples.camera_event(i, base_ts=base, with_images=True)
        cam["plate"] = plate
        out["camera_events"].append(cam)
    misread = samples.plate_read(3, base_ts=base, with_crop=True)
    misread.update(plate=MISREAD, plate_raw=MISREAD, candidates=[])
    out["plate_reads"].append(misread)
    erased_event = out["plate_events"][0]
    erased_event.update(variants=[ERASED, MISREAD])
    erased_event["read_ids"] = [*erased_event["read_ids"], misread["read_id"]]
    return out


def _log(s: Any) -> list[tuple[str, bytes]]:
    """(schema, value) of every record of the three topics (7), read from their start."""
    topics = {s.topic(BY_TABLE[t].topic.name): schema for t, schema in TABLES.items()}
    consumer = make_consumer(s, f"{s.topic_prefix}raw-{time.monotonic_ns()}")
    consumer.subscribe(list(topics))
    out: list[tuple[str, bytes]] = []
    idle = time.monotonic() + 10
    try:
        while len(out) < 7 or time.monotonic() < idle:
            msgs = consumer.consume(100, timeout=0.5)
            for msg in msgs:
                if msg.error() is None and msg.value():
                    out.append((topics[msg.topic()], msg.value()))
            if msgs:
                idle = time.monotonic() + 2
            elif len(out) >= 7 and time.monotonic() > idle - 8:
                break
    finally:
        consumer.close()
    return out


def _sealed(settings: Any) -> Any:
    """Sink settings of a deployment with sealing on and a key bucket of its own."""
    return sink_settings(
        settings,
        privacy_subject_key=KEY,
        privacy_seal_topics=True,
        privacy_key_bucket=f"{settings.s3_bucket[:50]}-keys",
    )


def _count(ch: Any, db: str, table: str, plate: str) -> int:
    return int(scalar(ch, f"SELECT count() FROM `{db}`.{table} WHERE plate = '{plate}'"))


@pytest.mark.integration
def test_a_sealed_log_holds_no_plate_and_an_erased_plate_opens_in_no_copy(settings: Any) -> None:
    s = _sealed(settings)
    ch = migrated(s)
    db = s.clickhouse_database
    s3 = make_s3(s)
    ensure_bucket_with_lifecycle(s3, s.s3_bucket, 30)
    records = _records(now_ms() - 3_600_000)
    for table, recs in records.items():
        produce(s, table, recs)  # sealed by the serde of settings with privacy_seal_topics
    log = _log(s)
    assert len(log) == 7
    # what `retention report` lists: one tree, due once the reads' topics and dead letters drop
    keys_kept = subject_key_report(s3, key_bucket(s), keys=shredder_for(s).keys)
    assert (keys_kept.records, keys_kept.flag) == (1, "") and keys_kept.oldest_ms is not None
    assert (
        keys_kept.expires_ms is not None and keys_kept.expires_ms > now_ms() + 60 * catalogue.DAY_MS
    )
    plain = AvroSerde()  # what a downstream consumer with the registry alone decodes
    for schema, value in log:
        for secret in (ERASED.encode(), KEPT.encode(), samples.TINY_JPEG):
            assert secret not in value, schema
        assert plain.decode(value)["plate"].startswith(TEXT_MARK)
    # what ingest could not parse, one payload naming each plate: sealed each under its own key
    from platestream.dlq import DeadLetters

    producer = make_producer(s)
    letters = DeadLetters(
        stage="ingest", producer=producer, serde=AvroSerde(settings=s), settings=s
    )
    for plate in (ERASED, KEPT):
        spelled = f"{plate[:3]}-{plate[3:]}".lower()
        letters.raw(f'{{"plate": "{spelled}"}}'.encode(), "no camera", key=None)
        time.sleep(1.0 - time.time() % 1.0 + 0.01)  # a stage's dead letters share a key per second
    # the frames each plate's read came from (detect read them): each under its own key
    from tests.privacy.test_shredding import _unread

    frames = s.topic(catalogue.FRAMES.name)
    shown = {}
    for read in records["plate_reads"]:
        frame = {**_unread(read["plate"], 1)["frame"], "camera_id": read["camera_id"]}
        frame.update(frame_id=read["frame_id"], ts=read["ts"], received_at=read["ts"] + 5)
        shown[read["frame_id"]] = read["plate"]
        producer.produce(
            frames, value=AvroSerde(settings=s).encode("frame", frame, subject=f"{frames}-value")
        )
    assert producer.flush(30) == 0
    dlq = s.topic(catalogue.dead_letter_topic("ingest").name)
    rebuilt = None
    try:
        with sink_thread(s, {"clickhouse", "s3"}):
            wait_until(
                lambda: (
                    all(_count(ch, db, t, p) >= 1 for t in TABLES for p in (ERASED, KEPT))
                    and _count(ch, db, "plate_reads", MISREAD) == 1
                ),
                90,
                "both plates stored in clear in ClickHouse",
            )
            request = plate_request(ERASED, key=KEY, actor="user:dpo", purpose="subject_access")
            topic = s.topic(catalogue.ERASURES.name)
            producer = make_producer(s)
            producer.produce(
                topic,
                key=request["erasure_id"].encode(),
                value=AvroSerde(settings=s).encode(
                    catalogue.ERASURES.schema, request, subject=f"{topic}-value"
                ),
            )
            assert producer.flush(30) == 0
            wait_until(
                lambda: scalar(ch, f"SELECT count() FROM `{db}`.erasures") == 1, 60, "the erasure"
            )
        keys = scalar(ch, f"SELECT rows_deleted['subject_keys'] FROM `{db}`.erasures")
        assert keys >= 1
        dead = scalar(ch, f"SELECT rows_deleted['dead_letters'] FROM `{db}`.erasures")
        assert dead == 1  # the dead letter that spelled ERASED, not KEPT's
        shown_frames = scalar(ch, f"SELECT rows_deleted['frames'] FROM `{db}`.erasures")
        assert shown_frames == 2  # the frames ERASED's reads came from (MISREAD's too)
        sid = subject_id(ERASED, KEY)
        trees = shredder_for(s).keys
        # every tree (the records' and the frames' and dead letters' classes) derives KEPT's key
        assert trees.derivable(sid) == 0 and trees.derivable(subject_id(KEPT, KEY)) >= 1
        assert all(_count(ch, db, t, ERASED) == 0 for t in TABLES)

        # Every copy in the log: a fresh stage opens KEPT's and none of ERASED's.
        fresh = AvroSerde(settings=s)
        opened, shredded = [], 0
        for _schema, value in _log(s):
            try:
                opened.append(fresh.decode(value)["plate"])
            except Shredded:
                shredded += 1
        assert shredded == 4 and sorted(opened) == [KEPT] * 3  # MISREAD's read too
        assert keys >= 2  # ERASED's key and MISREAD's, each in at least one tree
        assert trees.derivable(subject_id(MISREAD, KEY)) == 0
        assert _count(ch, db, "plate_reads", MISREAD) == 0
        kept_letters, shredded = [], 0
        for value in raw_values(s, dlq, 2):
            try:
                kept_letters.append(fresh.decode(value)["value"])
            except Shredded:
                shredded += 1
        assert shredded == 1 and kept_letters == [b'{"plate": "kee-p001"}']
        opened_frames = []
        for value in raw_values(s, frames, 3):
            try:
                opened_frames.append(shown[fresh.decode(value)["frame_id"]])
            except Shredded:
                opened_frames.append("shredded")
        assert sorted(opened_frames) == sorted([KEPT, "shredded", "shredded"])

        # A rebuild: a new database from the start of every topic stores KEPT only.
        rebuilt = sink_settings(
            s,
            clickhouse_database=f"{db}_rebuilt",
            sink_group_clickhouse=f"{s.sink_group_clickhouse}-rebuild",
            sink_group_s3=f"{s.sink_group_s3}-rebuild",
            sink_group_erasure=f"{s.sink_group_erasure}-rebuild",
        )
        ch2 = migrated(rebuilt)
        db2 = rebuilt.clickhouse_database
        with sink_thread(rebuilt, {"clickhouse"}):
            wait_until(
                lambda: (
                    all(_count(ch2, db2, t, KEPT) >= 1 for t in TABLES)
                    and scalar(ch2, f"SELECT count() FROM `{db2}`.erasures") == 1
                ),
                90,
                "the rebuild",
            )
        assert all(_count(ch2, db2, t, ERASED) == 0 for t in TABLES)
    finally:
        if rebuilt is not None:
            ch.command(f"DROP DATABASE IF EXISTS `{rebuilt.clickhouse_database}`")
        for obj in s3.list_objects(key_bucket(s), recursive=True):
            s3.remove_object(key_bucket(s), str(obj.object_name))
        if s3.bucket_exists(key_bucket(s)):
            s3.remove_bucket(key_bucket(s))


@pytest.mark.integration
def test_frames_and_ingest_dead_letters_are_sealed_on_the_broker(settings: Any) -> None:
    """What no stage has read a plate from yet: a frame showing one, and a device payload naming
    one that ingest could not parse. Both hold nothing in clear on the broker; a stage of the
    deployment opens them to what was sent. No erasure reaches the frame (its tree's end does:
    tests/privacy/test_key_expiry.py); the erasure of a plate a dead letter mentions does
    (test_a_sealed_log_holds_no_plate_and_an_erased_plate_opens_in_no_copy)."""
    from platestream.dlq import DeadLetters
    from tests.privacy.test_shredding import _unread

    s = _sealed(settings)
    s3 = make_s3(s)
    unread = _unread(ERASED, 1)
    serde = AvroSerde(settings=s)
    producer = make_producer(s)
    try:
        frames = s.topic(catalogue.FRAMES.name)
        producer.produce(
            frames, value=serde.encode("frame", unread["frame"], subject=f"{frames}-value")
        )
        dead = unread["dead_letter"]
        DeadLetters(stage="ingest", producer=producer, serde=serde, settings=s).raw(
            dead["value"], dead["error"], key=None, content_type=dead["content_type"]
        )
        assert producer.flush(30) == 0
        dlq = s.topic(catalogue.dead_letter_topic("ingest").name)
        (frame,) = raw_values(s, frames, 1)
        (letter,) = raw_values(s, dlq, 1)
        for value in (frame, letter):
            assert ERASED.encode() not in value and samples.TINY_JPEG not in value
        fresh = AvroSerde(settings=s)  # another stage of the deployment
        assert fresh.decode(frame)["image"]["data"] == samples.TINY_JPEG
        opened = fresh.decode(letter)
        assert (opened["value"], opened["error"]) == (dead["value"], dead["error"])
        assert AvroSerde().decode(letter)["error"].startswith(TEXT_MARK)
    finally:
        if s3.bucket_exists(key_bucket(s)):
            for obj in s3.list_objects(key_bucket(s), recursive=True):
                s3.remove_object(key_bucket(s), str(obj.object_name))
            s3.remove_bucket(key_bucket(s))
