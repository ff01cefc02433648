"""Crypto-shredding's rules (issue 17 item 2), pure logic over an in-memory key bucket: every
personal field of every sealed schema is sealed and opens to the same record, the wire bytes hold
no plate, erasing a plate's keys makes its records (and only its) fail to open, two stages that
create a key for one plate at once both stay readable, and a stage's cached keys expire. On the
real broker, bucket and ClickHouse: tests/privacy/test_shredding_stack.py."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from minio.error import S3Error

from platestream.privacy.erasure import subject_id
from platestream.privacy.shredding import (
    SPECS,
    TEXT_MARK,
    Shredded,
    Shredder,
    SubjectKeys,
)
from platestream.serde import AvroSerde
from services.sink import samples

ERASED, KEPT = "ERA5E01", "KEEP001"
KEY = "test-subject-key"
BASE = 1_780_000_000_000


class _Object:
    def __init__(self, name: str) -> None:
        self.object_name = name
        self.is_dir = False


class _Body:
    def __init__(self, data: bytes) -> None:
        self.data = data

    def read(self) -> bytes:
        return self.data

    def close(self) -> None:
        pass

    def release_conn(self) -> None:
        pass


class MemoryBucket:
    """The few S3 calls SubjectKeys makes, on a dict (pure-logic tests only)."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.buckets: set[str] = set()

    def bucket_exists(self, bucket: str) -> bool:
        return bucket in self.buckets

    def make_bucket(self, bucket: str) -> None:
        self.buckets.add(bucket)

    def list_objects(self, bucket: str, prefix: str = "") -> list[_Object]:
        return [_Object(n) for b, n in sorted(self.objects) if b == bucket and n.startswith(prefix)]

    def put_object(self, bucket: str, name: str, data: io.BytesIO, length: int) -> None:
        assert bucket in self.buckets
        self.objects[(bucket, name)] = data.read(length)

    def get_object(self, bucket: str, name: str) -> _Body:
        if (bucket, name) not in self.objects:
            raise S3Error(None, "NoSuchKey", "gone", name, "r", "h")  # type: ignore[arg-type]
        return _Body(self.objects[(bucket, name)])

    def remove_object(self, bucket: str, name: str) -> None:
        self.objects.pop((bucket, name), None)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _shredder(bucket: MemoryBucket, clock: Clock | None = None) -> Shredder:
    keys = SubjectKeys(bucket, "keys", KEY, ttl_s=60.0, clock=clock or Clock())  # type: ignore[arg-type]
    return Shredder(keys, KEY)


def _records(plate: str, i: int) -> dict[str, dict[str, Any]]:
    """One record of every sealed schema naming ``plate`` in every personal field it has."""
    read = samples.plate_read(i, base_ts=BASE, with_crop=True)
    read.update(plate=plate, plate_raw=plate[:3] + " " + plate[3:])
    read["candidates"] = [
        {"plate": plate, "confidence": 0.9},
        {"plate": "X" + plate, "confidence": 0.1},
    ]
    event = samples.plate_event(i, base_ts=BASE, with_images=True, plate=plate)
    event["variants"] = [plate, "X" + plate]
    cam = samples.camera_event(i, base_ts=BASE, with_images=True)
    cam.update(plate=plate, plate_raw=plate, candidates=[{"plate": plate, "confidence": 0.8}])
    alert = {**samples.alert(i, base_ts=BASE), "plate": plate, "pattern": plate}
    fix = {**samples.correction(i, base_ts=BASE), "plate": plate, "previous_plate": "Y" + plate}
    anomaly = samples.anomaly(i, base_ts=BASE)
    anomaly["plate"] = plate
    for side in ("first", "second"):
        anomaly[side] = {**anomaly[side], "plate": plate, "variants": [plate]}
    audit = {**samples.audit(i, base_ts=BASE), "query": json.dumps({"plate": plate.lower()})}
    return {
        "plate_read": read,
        "plate_event": event,
        "camera_event": cam,
        "bolo_alert": alert,
        "correction": fix,
        "plate_anomaly": anomaly,
        "audit_record": audit,
    }


def test_every_sealed_schema_holds_no_plate_on_the_wire_and_opens_to_the_same_record() -> None:
    bucket = MemoryBucket()
    sealing = AvroSerde(shredder=_shredder(bucket))
    plain = AvroSerde()
    records = _records(ERASED, 1)
    assert set(records) == set(SPECS)
    for schema, rec in records.items():
        before = json.dumps(rec, sort_keys=True, default=repr)
        wire = sealing.encode(schema, rec)
        assert json.dumps(rec, sort_keys=True, default=repr) == before  # the input is not changed
        assert ERASED.encode() not in wire and ERASED.lower().encode() not in wire, schema
        assert samples.TINY_JPEG not in wire, schema  # inline images sealed too
        seen = plain.decode(wire)  # a consumer with the registry alone sees sealed text
        assert str(seen.get(SPECS[schema].subject, "")).startswith(TEXT_MARK), schema
        assert sealing.decode(wire) == plain.decode(plain.encode(schema, rec)), schema
    # a second stage of the same deployment (its own cache) opens them too
    other = AvroSerde(shredder=_shredder(bucket))
    wire = sealing.encode("plate_read", records["plate_read"])
    assert other.decode(wire)["plate"] == ERASED


def test_erasing_the_keys_leaves_the_plates_records_unopenable_and_others_intact() -> None:
    bucket = MemoryBucket()
    writer = AvroSerde(shredder=_shredder(bucket))
    wires = {
        plate: {s: writer.encode(s, r) for s, r in _records(plate, i).items()}
        for i, plate in enumerate((ERASED, KEPT), start=1)
    }
    eraser = _shredder(bucket)
    assert eraser.keys.shred(subject_id(ERASED, KEY)) >= 1
    reader = AvroSerde(shredder=_shredder(bucket))  # a fresh stage, or a rebuild
    for wire in wires[ERASED].values():
        with pytest.raises(Shredded):
            reader.decode(wire)
    for schema, wire in wires[KEPT].items():
        assert KEPT in json.dumps(reader.decode(wire), default=repr).upper(), schema
    # the plate seen again: a new key, and its new records open
    later = writer.encode("plate_read", _records(ERASED, 3)["plate_read"])
    with pytest.raises(Shredded):  # the writer's cached key is the erased one for up to 60 s
        reader.decode(later)
    fresh = AvroSerde(shredder=_shredder(bucket))
    again = fresh.encode("plate_read", _records(ERASED, 4)["plate_read"])
    assert reader.decode(again)["plate"] == ERASED


def test_a_correction_seals_each_plate_under_its_own_key() -> None:
    bucket = MemoryBucket()
    serde = AvroSerde(shredder=_shredder(bucket))
    fix = _records(KEPT, 1)["correction"]
    fix["previous_plate"] = ERASED
    wire = serde.encode("correction", fix)
    _shredder(bucket).keys.shred(subject_id(ERASED, KEY))
    with pytest.raises(Shredded):
        AvroSerde(shredder=_shredder(bucket)).decode(wire)
    # the corrected-to plate is not erased: still a Shredded record (its previous plate is)
    fix_back = {**_records(ERASED, 2)["correction"], "plate": KEPT, "previous_plate": KEPT}
    assert AvroSerde(shredder=_shredder(bucket)).decode(serde.encode("correction", fix_back)) == (
        fix_back
    )


def test_two_stages_creating_a_key_for_one_plate_at_once_both_stay_readable() -> None:
    bucket = MemoryBucket()
    a, b = AvroSerde(shredder=_shredder(bucket)), AvroSerde(shredder=_shredder(bucket))
    rec = _records(KEPT, 1)["plate_read"]
    # both look before either writes: each creates its own key
    a.shredder.keys._names = b.shredder.keys._names = lambda prefix: []  # type: ignore[union-attr,method-assign]
    wire_a, wire_b = a.encode("plate_read", rec), b.encode("plate_read", rec)
    assert len(bucket.objects) == 2
    reader = AvroSerde(shredder=_shredder(bucket))
    assert reader.decode(wire_a)["plate"] == reader.decode(wire_b)["plate"] == KEPT
    _shredder(bucket).keys.shred(subject_id(KEPT, KEY))  # the erasure removes both
    assert not bucket.objects
    for wire in (wire_a, wire_b):
        with pytest.raises(Shredded):
            AvroSerde(shredder=_shredder(bucket)).decode(wire)


def test_a_stage_forgets_erased_keys_within_its_cache_time() -> None:
    bucket, clock = MemoryBucket(), Clock()
    wire = AvroSerde(shredder=_shredder(bucket)).encode(
        "plate_read", _records(ERASED, 1)["plate_read"]
    )
    reader = AvroSerde(shredder=_shredder(bucket, clock))
    assert reader.decode(wire)["plate"] == ERASED
    _shredder(bucket).keys.shred(subject_id(ERASED, KEY))  # in another process
    clock.now = 59.0
    assert reader.decode(wire)["plate"] == ERASED
    clock.now = 61.0
    with pytest.raises(Shredded):
        reader.decode(wire)


def test_records_without_a_plate_and_records_written_before_sealing_pass_unchanged() -> None:
    bucket = MemoryBucket()
    serde = AvroSerde(shredder=_shredder(bucket))
    cam = {**samples.camera_event(1, base_ts=BASE, with_images=True), "plate": None}
    cam["candidates"] = []
    assert serde.decode(serde.encode("camera_event", cam)) == AvroSerde().decode(
        AvroSerde().encode("camera_event", cam)
    )
    assert not bucket.objects  # no key made for a record without a plate
    old = AvroSerde().encode("plate_read", _records(KEPT, 1)["plate_read"])
    assert serde.decode(old)["plate"] == KEPT
