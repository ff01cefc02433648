"""Must-show: the real clients (confluent-kafka, minio, clickhouse-connect) against the live stack."""

from __future__ import annotations

import io
import time
import urllib.request
from datetime import timedelta

import numpy as np
import pytest
from minio import Minio
from minio.error import S3Error

from platestream import topics as catalogue
from platestream.clickhouse import make_clickhouse
from platestream.kafka import make_consumer, make_producer
from platestream.s3 import make_s3
from platestream.settings import CommonSettings

pytestmark = pytest.mark.integration


def test_produce_consume_round_trip_with_a_consumer_group(settings: CommonSettings) -> None:
    topic = settings.topic(catalogue.PLATE_READS.name)
    producer = make_producer(settings)
    sent = {f"cam-{i % 7}|{i}".encode(): f"payload-{i}".encode() for i in range(300)}
    for key, value in sent.items():
        producer.produce(topic, key=key.split(b"|")[0], value=value, headers={"k": key})
    assert producer.flush(30) == 0
    group = f"{settings.topic_prefix}roundtrip"
    consumer = make_consumer(settings, group)
    consumer.subscribe([topic])
    got: dict[bytes, bytes] = {}
    deadline = time.monotonic() + 60
    try:
        while len(got) < len(sent) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=500, timeout=1.0):
                assert msg.error() is None, msg.error()
                got[dict(msg.headers())["k"]] = msg.value()
                consumer.store_offsets(msg)
            consumer.commit(asynchronous=False) if got else None
    finally:
        consumer.close()
    assert got == sent
    # the group committed: a new member of the same group starts after the last record
    producer.produce(topic, key=b"cam-0", value=b"after-commit")
    assert producer.flush(30) == 0
    again = make_consumer(settings, group)
    again.subscribe([topic])
    values: list[bytes] = []
    deadline = time.monotonic() + 60
    try:
        while not values and time.monotonic() < deadline:
            values += [
                m.value() for m in again.consume(num_messages=100, timeout=1.0) if m.error() is None
            ]
    finally:
        again.close()
    assert values == [b"after-commit"]


def test_s3_put_get_and_presigned_get(settings: CommonSettings) -> None:
    s3 = make_s3(settings)
    body = bytes(range(256)) * 400
    s3.put_object(
        settings.s3_bucket, "a/b/frame.jpg", io.BytesIO(body), len(body), content_type="image/jpeg"
    )
    resp = s3.get_object(settings.s3_bucket, "a/b/frame.jpg")
    try:
        assert resp.read() == body
    finally:
        resp.close()
        resp.release_conn()
    assert s3.stat_object(settings.s3_bucket, "a/b/frame.jpg").content_type == "image/jpeg"
    url = s3.presigned_get_object(settings.s3_bucket, "a/b/frame.jpg", expires=timedelta(minutes=5))
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.read() == body
    names = [
        o.object_name for o in s3.list_objects(settings.s3_bucket, prefix="a/", recursive=True)
    ]
    assert names == ["a/b/frame.jpg"]


def test_wrong_s3_key_is_refused(settings: CommonSettings) -> None:
    wrong = Minio(
        settings.s3_host,
        access_key=settings.s3_access_key,
        secret_key="not-the-secret",
        secure=settings.s3_secure,
        region=settings.s3_region,
    )
    with pytest.raises(S3Error) as info:
        wrong.put_object(settings.s3_bucket, "x", io.BytesIO(b"x"), 1)
    assert info.value.code in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "AccessDenied")
    unknown = Minio(
        settings.s3_host,
        access_key="intruder",
        secret_key="whatever-secret",
        secure=settings.s3_secure,
        region=settings.s3_region,
    )
    with pytest.raises(S3Error):
        unknown.list_objects(settings.s3_bucket).__next__()


def test_wrong_clickhouse_password_is_refused(settings: CommonSettings) -> None:
    from clickhouse_connect.driver.exceptions import DatabaseError

    bad = settings.model_copy(update={"clickhouse_password": "wrong"})
    with pytest.raises(DatabaseError, match=r"516|Authentication failed"):
        make_clickhouse(bad)


def test_merge_tree_million_rows(settings: CommonSettings) -> None:
    client = make_clickhouse(settings)
    client.command(
        "CREATE TABLE reads (event_id UInt64, ts DateTime64(3, 'UTC'), camera_id LowCardinality(String), "
        "plate String, confidence Float32) ENGINE = MergeTree ORDER BY (camera_id, ts)"
    )
    n = 1_000_000
    ids = np.arange(n, dtype=np.uint64)
    ts = np.datetime64("2026-01-01T00:00:00.000", "ms") + np.arange(n, dtype=np.int64).astype(
        "timedelta64[ms]"
    )
    cameras = np.array([f"cam-{i:02d}" for i in range(50)], dtype=object)[ids % 50]
    plates = np.char.add("AB", np.char.zfill((ids % 100_000).astype(str), 5)).astype(object)
    confidence = (ids % 100).astype(np.float32) / 100
    import pandas as pd

    frame = pd.DataFrame(
        {"event_id": ids, "ts": ts, "camera_id": cameras, "plate": plates, "confidence": confidence}
    )
    started = time.perf_counter()
    summary = client.insert_df("reads", frame)
    elapsed = time.perf_counter() - started
    print(f"clickhouse-connect insert_df of {n:,} rows through the endpoint: {elapsed:.2f}s")
    assert summary.written_rows == n
    assert client.command("SELECT count() FROM reads") == n
    rows = client.query(
        "SELECT camera_id, count(), min(event_id) FROM reads WHERE plate = {p:String} GROUP BY camera_id",
        parameters={"p": "AB00042"},
    ).result_rows
    assert rows == [("cam-42", 10, 42)]
    hourly = client.query(
        "SELECT toStartOfHour(ts) AS h, count() FROM reads GROUP BY h ORDER BY h"
    ).result_rows
    assert sum(c for _, c in hourly) == n and len(hourly) == 1  # 1M ms is under 17 minutes
    assert client.command("SELECT uniqExact(plate) FROM reads") == 100_000
