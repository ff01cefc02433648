"""Crypto-shredding's rules (issue 17 item 2), pure logic over an in-memory key bucket: every
personal field of every sealed schema is sealed and opens to the same record, the wire bytes hold
no plate, erasing a plate's keys makes its records (and only its) fail to open, two stages that
create a key tree at once both stay readable, a stage's cached keys expire, and records sealed by
the builds that kept one object per key still open and shred. The key tree itself:
tests/privacy/test_key_tree.py. On the real broker, bucket and ClickHouse:
tests/privacy/test_shredding_stack.py."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from datetime import UTC, datetime
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
    def __init__(self, name: str, etag: str | None = None) -> None:
        self.object_name = name
        self.is_dir = False
        self.etag = etag
        self.last_modified = datetime.now(UTC)


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
        self.lists = 0

    def bucket_exists(self, bucket: str) -> bool:
        return bucket in self.buckets

    def make_bucket(self, bucket: str) -> None:
        self.buckets.add(bucket)

    def list_objects(self, bucket: str, prefix: str = "", recursive: bool = False) -> list[_Object]:
        self.lists += 1
        return [
            _Object(n, hashlib.md5(body).hexdigest())
            for (b, n), body in sorted(self.objects.items())
            if b == bucket and n.startswith(prefix)
        ]

    def put_object(self, bucket: str, name: str, data: io.BytesIO, length: int) -> _Object:
        assert bucket in self.buckets
        self.objects[(bucket, name)] = body = data.read(length)
        return _Object(name, hashlib.md5(body).hexdigest())

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


def _unread(plate: str, i: int) -> dict[str, dict[str, Any]]:
    """Records whose plate no stage has read: a frame showing it, and the dead letter of a
    device payload naming it (ingest could not parse it)."""
    frame = {
        "frame_id": f"frame-{i}",
        "camera_id": "cam-7",
        "source": "rtsp",
        "seq": i,
        "ts": BASE + i,
        "received_at": BASE + i + 5,
        "width": 640,
        "height": 480,
        "image": {"kind": "frame", "content_type": "image/jpeg", "data": samples.TINY_JPEG},
        "job_id": None,
        "plate_formats": None,
        "zones": None,
    }
    payload = json.dumps({"plate": plate, "picture": base64.b64encode(samples.TINY_JPEG).decode()})
    dead = {
        "stage": "ingest",
        "error_type": "BadInputError",
        "error": f"no camera for the read of {plate}",
        "ts": BASE + i,
        "source_topic": None,
        "source_partition": None,
        "source_offset": None,
        "key": plate.encode(),
        "value": payload.encode(),
        "headers": {},
        "content_type": "application/json",
    }
    return {"frame": frame, "dead_letter": dead}


def test_every_sealed_schema_holds_no_plate_on_the_wire_and_opens_to_the_same_record() -> None:
    bucket = MemoryBucket()
    sealing = AvroSerde(shredder=_shredder(bucket))
    plain = AvroSerde()
    records = {**_records(ERASED, 1), **_unread(ERASED, 1)}
    assert set(records) == set(SPECS)
    for schema, rec in records.items():
        before = json.dumps(rec, sort_keys=True, default=repr)
        wire = sealing.encode(schema, rec)
        assert json.dumps(rec, sort_keys=True, default=repr) == before  # the input is not changed
        assert ERASED.encode() not in wire and ERASED.lower().encode() not in wire, schema
        assert samples.TINY_JPEG not in wire, schema  # inline images sealed too
        seen = plain.decode(wire)  # a consumer with the registry alone sees sealed text
        spec = SPECS[schema]
        if spec.fixed:  # the camera or stage stays readable; what it carried does not
            assert seen[spec.subject] == rec[spec.subject], schema
            assert (seen.get("error") or TEXT_MARK).startswith(TEXT_MARK), schema
        else:
            assert str(seen.get(spec.subject, "")).startswith(TEXT_MARK), schema
        assert sealing.decode(wire) == plain.decode(plain.encode(schema, rec)), schema
    # a second stage of the same deployment (its own cache) opens them too
    other = AvroSerde(shredder=_shredder(bucket))
    wire = sealing.encode("plate_read", records["plate_read"])
    assert other.decode(wire)["plate"] == ERASED


def test_a_payload_that_looks_sealed_is_sealed_and_opens_to_itself() -> None:
    """A device may send bytes or text that start like a sealed value: a dead letter holding them
    is sealed all the same (no copy in clear) and opens to exactly what was sent."""
    sealing = AvroSerde(shredder=_shredder(MemoryBucket()))
    rec = _unread(ERASED, 1)["dead_letter"]
    rec.update(value=b"\x00ps1" + ERASED.encode() * 4, error=f"{TEXT_MARK}{ERASED * 8}")
    wire = sealing.encode("dead_letter", rec)
    assert ERASED.encode() not in wire
    assert sealing.decode(wire) == AvroSerde().decode(AvroSerde().encode("dead_letter", rec))


def test_erasing_the_keys_leaves_the_plates_records_unopenable_and_others_intact() -> None:
    bucket = MemoryBucket()
    writer = AvroSerde(shredder=_shredder(bucket))
    wires = {
        plate: {s: writer.encode(s, r) for s, r in _records(plate, i).items()}
        for i, plate in enumerate((ERASED, KEPT), start=1)
    }
    unread, plain = _unread(ERASED, 2), AvroSerde()
    unread_wires = {s: writer.encode(s, r) for s, r in unread.items()}
    eraser = _shredder(bucket)
    assert eraser.keys.shred(subject_id(ERASED, KEY)) >= 1
    reader = AvroSerde(shredder=_shredder(bucket))  # a fresh stage, or a rebuild
    for wire in wires[ERASED].values():
        with pytest.raises(Shredded):
            reader.decode(wire)
    for schema, wire in wires[KEPT].items():
        assert KEPT in json.dumps(reader.decode(wire), default=repr).upper(), schema
    # a frame is under its camera's key, which no erasure names: it stops opening when its tree
    # expires (tests/privacy/test_key_expiry.py); a dead letter under a key of its own, which
    # the erasure of a plate it mentions punctures (tests/privacy/test_dead_letter_erasure.py),
    # not the plate's key
    for schema, rec in unread.items():
        assert reader.decode(unread_wires[schema]) == plain.decode(plain.encode(schema, rec))
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


def test_two_stages_creating_a_key_tree_at_once_both_stay_readable() -> None:
    bucket = MemoryBucket()
    a, b = AvroSerde(shredder=_shredder(bucket)), AvroSerde(shredder=_shredder(bucket))
    rec = _records(KEPT, 1)["plate_read"]
    # both list the bucket before either writes: each creates its own tree
    for stage in (a, b):
        stage.shredder.keys._store.list_trees = lambda: []  # type: ignore[union-attr,method-assign]
    wire_a, wire_b = a.encode("plate_read", rec), b.encode("plate_read", rec)
    assert len(bucket.objects) == 2
    reader = AvroSerde(shredder=_shredder(bucket))
    assert reader.decode(wire_a)["plate"] == reader.decode(wire_b)["plate"] == KEPT
    assert _shredder(bucket).keys.shred(subject_id(KEPT, KEY)) == 2  # punctured in both trees
    for wire in (wire_a, wire_b):
        with pytest.raises(Shredded):
            AvroSerde(shredder=_shredder(bucket)).decode(wire)


def test_one_tree_serves_every_plate_and_a_plate_seen_after_its_erasure_gets_a_new_tree() -> None:
    bucket = MemoryBucket()
    writer = AvroSerde(shredder=_shredder(bucket))
    plates = [f"AB{i:05d}" for i in range(300)]
    wires = [
        writer.encode("plate_read", _records(p, i)["plate_read"]) for i, p in enumerate(plates)
    ]
    assert len(bucket.objects) == 1  # one object for 300 plates, not 300
    keys = writer.shredder.keys  # type: ignore[union-attr]
    assert keys.created == 1 and bucket.lists == 2  # a listing, and one more before creating
    assert _shredder(bucket).keys.shred(subject_id(plates[7], KEY)) == 1
    reader = AvroSerde(shredder=_shredder(bucket))
    opened = []
    for wire in wires:
        try:
            opened.append(reader.decode(wire)["plate"])
        except Shredded:
            opened.append(None)
    assert opened == [None if i == 7 else p for i, p in enumerate(plates)]
    fresh = AvroSerde(shredder=_shredder(bucket))  # the erased plate seen again
    again = fresh.encode("plate_read", _records(plates[7], 9)["plate_read"])
    assert reader.decode(again)["plate"] == plates[7]
    assert len(bucket.objects) == 2  # punctured in the only tree: a second one
    other = fresh.encode("plate_read", _records(plates[8], 9)["plate_read"])
    assert reader.decode(other)["plate"] == plates[8]


def test_an_erasure_spares_trees_made_after_it_and_a_second_pass_mends_a_lost_puncture() -> None:
    import time

    bucket = MemoryBucket()
    writer = AvroSerde(shredder=_shredder(bucket))
    old = writer.encode("plate_read", _records(ERASED, 1)["plate_read"])
    # two erasers read the tree, one punctures ERASED, the other KEPT from its older copy
    a, b = _shredder(bucket).keys, _shredder(bucket).keys
    a._refresh(force=True)
    assert b.derivable(subject_id(KEPT, KEY)) == 1  # b reads the tree now, before a's puncture
    b._refresh = lambda force=False: None  # type: ignore[method-assign]
    assert a.shred(subject_id(ERASED, KEY)) == 1
    assert b.shred(subject_id(KEPT, KEY)) == 1  # writes its copy: ERASED derivable again
    assert AvroSerde(shredder=_shredder(bucket)).decode(old)["plate"] == ERASED
    ledger = {subject_id(ERASED, KEY): None, subject_id(KEPT, KEY): None}
    assert _shredder(bucket).keys.shred_all(ledger, objects=False) == 1  # the mend
    assert _shredder(bucket).keys.shred_all(ledger, objects=False) == 0  # idempotent
    with pytest.raises(Shredded):
        AvroSerde(shredder=_shredder(bucket)).decode(old)
    # the plate seen after its erasure: a tree made later, which the erasure's mend spares
    later = AvroSerde(shredder=_shredder(bucket)).encode(
        "plate_read", _records(ERASED, 2)["plate_read"]
    )
    before_ms = int(time.time() * 1000) - 60_000  # the erasure covered records up to a minute ago
    ledger = {subject_id(ERASED, KEY): before_ms}
    assert _shredder(bucket).keys.shred_all(ledger, objects=False) == 0
    assert AvroSerde(shredder=_shredder(bucket)).decode(later)["plate"] == ERASED


def test_records_sealed_with_one_object_per_key_still_open_and_shred() -> None:
    """Builds before the key trees kept each key as ``<sid24>/<rand8>``: their records still
    open, and an erasure deletes those objects."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    bucket = MemoryBucket()
    bucket.make_bucket("keys")
    keys = _shredder(bucket).keys
    kid = f"{subject_id(ERASED, KEY)[:24]}/{os.urandom(4).hex()}"
    raw, nonce = AESGCM.generate_key(bit_length=128), os.urandom(12)
    body = nonce + keys._wrap.encrypt(nonce, raw, kid.encode())
    bucket.put_object("keys", kid, io.BytesIO(body), len(body))
    rec = _records(ERASED, 1)["plate_read"]
    nonce = os.urandom(12)
    box = nonce + AESGCM(raw).encrypt(nonce, ERASED.encode(), kid.encode())
    old = AvroSerde().encode(
        "plate_read", {**rec, "plate": f"{TEXT_MARK}{kid}:{base64.urlsafe_b64encode(box).decode()}"}
    )
    assert AvroSerde(shredder=_shredder(bucket)).decode(old)["plate"] == ERASED
    assert _shredder(bucket).keys.shred(subject_id(ERASED, KEY)) == 1
    assert not bucket.objects
    with pytest.raises(Shredded):
        AvroSerde(shredder=_shredder(bucket)).decode(old)


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
