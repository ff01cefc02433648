"""Crypto-expiry of the subject-key trees (docs/privacy.md, "Trees that end"), with a controlled
wall clock over an in-memory key bucket: a tree seals one retention class for one period, then
the next period's tree takes over; once every topic has dropped what a tree sealed it opens
nothing and is deleted, the retention report flags one that outlives its end, an erasure leaves
dead trees alone, the first build's trees (no lifetime) still open but seal nothing new, and the
next period's tree is made ahead once for every stage."""

from __future__ import annotations

import os
import struct

import pytest

from platestream.privacy.erasure import subject_id
from platestream.privacy.key_tree import KeyTree
from platestream.privacy.retention import subject_key_report
from platestream.privacy.shredding import KEEP_MS, TEXT_MARK, Shredded, Shredder, SubjectKeys
from platestream.privacy.subject_keys import NONCE, TREES
from platestream.serde import AvroSerde
from tests.privacy.test_shredding import KEY, Clock, MemoryBucket, _records, _unread

DAY = 24 * 3600 * 1000
PERIOD, AFTER = 7 * DAY, 37 * DAY
START = 1_780_000_000_000 // PERIOD * PERIOD + DAY  # one day into a period


class Wall:
    """The wall clock every SubjectKeys of one test reads (ms, returned as seconds)."""

    def __init__(self) -> None:
        self.ms = START

    def __call__(self) -> float:
        return self.ms / 1000


def _serde(bucket: MemoryBucket, wall: Wall, clock: Clock | None = None) -> AvroSerde:
    keys = SubjectKeys(
        bucket,  # type: ignore[arg-type]
        "keys",
        KEY,
        ttl_s=60.0,
        clock=clock or Clock(),
        period_ms=PERIOD,
        after_ms=AFTER,
        wall=wall,
    )
    return AvroSerde(shredder=Shredder(keys, KEY))


def _trees(bucket: MemoryBucket, wall: Wall) -> list[KeyTree]:
    keys = _serde(bucket, wall).shredder.keys  # type: ignore[union-attr]
    return sorted(keys.trees(), key=lambda t: (t.created_ms, t.keep_ms))


def test_a_tree_seals_one_class_for_one_period_then_the_next_takes_over() -> None:
    bucket, wall = MemoryBucket(), Wall()
    writer = _serde(bucket, wall)
    read = writer.encode("plate_read", _records("AB12345", 1)["plate_read"])
    alert = writer.encode("bolo_alert", _records("AB12345", 1)["bolo_alert"])
    writer.encode("plate_read", _records("CD67890", 2)["plate_read"])
    trees = _trees(bucket, wall)
    assert [t.keep_ms for t in trees] == sorted([KEEP_MS["plate_read"], KEEP_MS["bolo_alert"]])
    assert KEEP_MS["plate_read"] == 30 * DAY and KEEP_MS["bolo_alert"] == 365 * DAY
    end = (START // PERIOD + 1) * PERIOD
    for tree in trees:
        assert tree.seal_until_ms == end and tree.expires_ms == end + tree.keep_ms + AFTER
    shredder = writer.shredder
    assert shredder is not None
    before = _kid(shredder.seal("plate_read", _records("AB12345", 3)["plate_read"]))
    wall.ms = end + 1  # the next period: the same stage seals with a new tree
    later = writer.encode("plate_read", _records("AB12345", 3)["plate_read"])
    after = _kid(shredder.seal("plate_read", _records("AB12345", 4)["plate_read"]))
    assert before[:24] == after[:24] and before != after  # the same plate, the next tree
    assert len(bucket.objects) == 3
    reader = _serde(bucket, wall)
    assert [reader.decode(w)["plate"] for w in (read, alert, later)] == ["AB12345"] * 3


def _kid(sealed: dict[str, object]) -> str:
    text = sealed["plate"]
    assert isinstance(text, str) and text.startswith(TEXT_MARK)
    return text[len(TEXT_MARK) :].partition(":")[0]


def test_a_tree_past_its_life_opens_nothing_is_flagged_by_the_report_and_deleted() -> None:
    bucket, wall = MemoryBucket(), Wall()
    writer = _serde(bucket, wall)
    read = writer.encode("plate_read", _records("AB12345", 1)["plate_read"])
    alert = writer.encode("bolo_alert", _records("AB12345", 1)["bolo_alert"])
    short = next(t for t in _trees(bucket, wall) if t.keep_ms == 30 * DAY)

    wall.ms = short.expires_ms - 1  # the last moment a copy of the read can be in a topic
    assert _serde(bucket, wall).decode(read)["plate"] == "AB12345"
    keys = _serde(bucket, wall).shredder.keys  # type: ignore[union-attr]
    report = subject_key_report(bucket, "keys", keys=keys, now=wall.ms)
    assert report.expires_ms == short.expires_ms and report.flag == ""

    wall.ms = short.expires_ms
    with pytest.raises(Shredded):  # not deleted yet, already opens nothing
        _serde(bucket, wall).decode(read)
    assert _serde(bucket, wall).decode(alert)["plate"] == "AB12345"  # the longer class lives on
    report = subject_key_report(bucket, "keys", keys=keys, now=wall.ms)
    assert report.flag == "past policy" and report.records == 2

    assert keys.expire() == 1 and keys.expire() == 0
    assert len(bucket.objects) == 1
    report = subject_key_report(bucket, "keys", keys=keys, now=wall.ms)
    assert report.flag == "" and report.records == 1 and report.expires_ms > wall.ms
    with pytest.raises(Shredded):
        _serde(bucket, wall).decode(read)
    assert _serde(bucket, wall).decode(alert)["plate"] == "AB12345"


def test_frames_and_dead_letters_stop_opening_when_their_class_tree_ends() -> None:
    """No erasure can name them (nobody read their plate yet), so crypto-expiry bounds every copy:
    a frame's tree (frames are kept a day) ends long before a read's, a dead letter's with it."""
    bucket, wall = MemoryBucket(), Wall()
    writer = _serde(bucket, wall)
    unread = _unread("AB12345", 1)
    frame = writer.encode("frame", unread["frame"])
    dead = writer.encode("dead_letter", unread["dead_letter"])
    read = writer.encode("plate_read", _records("AB12345", 1)["plate_read"])
    ends = {t.keep_ms: t.expires_ms for t in _trees(bucket, wall)}
    assert set(ends) == {KEEP_MS["frame"], KEEP_MS["dead_letter"]} == {DAY, 30 * DAY}

    wall.ms = ends[DAY] - 1
    reader = _serde(bucket, wall)
    assert reader.decode(frame)["image"]["data"] == unread["frame"]["image"]["data"]
    wall.ms = ends[DAY]
    with pytest.raises(Shredded):
        _serde(bucket, wall).decode(frame)
    assert _serde(bucket, wall).decode(dead)["value"] == unread["dead_letter"]["value"]
    wall.ms = ends[30 * DAY]
    for wire in (dead, read):  # a dead letter lives as long as the reads it may hold
        with pytest.raises(Shredded):
            _serde(bucket, wall).decode(wire)


def test_an_erasure_punctures_only_the_trees_still_alive() -> None:
    bucket, wall = MemoryBucket(), Wall()
    _serde(bucket, wall).encode("plate_read", _records("AB12345", 1)["plate_read"])
    dead = dict(bucket.objects)
    wall.ms = next(t.expires_ms for t in _trees(bucket, wall))
    _serde(bucket, wall).encode("plate_read", _records("AB12345", 2)["plate_read"])
    keys = _serde(bucket, wall).shredder.keys  # type: ignore[union-attr]
    assert keys.shred(subject_id("AB12345", KEY)) == 1  # the live tree, not the dead one
    for name, body in dead.items():
        assert bucket.objects[name] == body  # untouched: expire() deletes it


def test_trees_of_the_first_build_still_open_and_seal_nothing_new() -> None:
    bucket, wall = MemoryBucket(), Wall()
    keys = _serde(bucket, wall).shredder.keys  # type: ignore[union-attr]
    root = os.urandom(16)
    v1 = struct.pack(">Q", START - DAY) + bytes([0]) + root  # created_ms, the root node
    name = TREES + "0badc0de"
    nonce = os.urandom(NONCE)
    bucket.make_bucket("keys")
    bucket.objects[("keys", name)] = nonce + keys._wrap.encrypt(nonce, v1, name.encode())
    tree = KeyTree.from_bytes(v1)
    assert (tree.keep_ms, tree.seal_until_ms, tree.expires_ms) == (0, 0, 0)
    sid = subject_id("AB12345", KEY)
    leaf = tree.leaf(sid)
    assert leaf is not None
    opened = keys.opening_key(f"{sid[:24]}.0badc0de")
    assert (
        opened is not None
        and opened.decrypt(b"\0" * 12, _aead(leaf).encrypt(b"\0" * 12, b"AB12345", None), None)
        == b"AB12345"
    )
    kid, _ = keys.sealing_key(sid, KEEP_MS["plate_read"])
    assert not kid.endswith(".0badc0de") and len(bucket.objects) == 2
    assert keys.expire() == 0  # a tree without an end is never deleted by age
    wall.ms += 10 * 365 * DAY
    assert keys.opening_key(f"{sid[:24]}.0badc0de") is not None


def _aead(key: bytes):  # type: ignore[no-untyped-def]
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    return AESGCM(key)


def test_the_next_periods_tree_is_made_ahead_once_and_every_stage_turns_to_it() -> None:
    bucket, wall = MemoryBucket(), Wall()
    clocks = [Clock(), Clock()]
    stages = [_serde(bucket, wall, clock) for clock in clocks]
    for i, stage in enumerate(stages):
        stage.encode("plate_read", _records("AB12345", i)["plate_read"])
    assert len(bucket.objects) == 1  # the second stage's first listing found the first's tree
    end = (START // PERIOD + 1) * PERIOD
    wall.ms = end - 30 * 60 * 1000  # half an hour before the period ends
    for clock in clocks:
        clock.now += 61  # each stage lists again within its cache time
    for i, stage in enumerate(stages):
        stage.encode("plate_read", _records("AB12345", i)["plate_read"])
    assert len(bucket.objects) == 2  # the next period's tree, made once
    upcoming = max(_trees(bucket, wall), key=lambda t: t.seal_until_ms)
    assert upcoming.seal_until_ms == end + PERIOD
    before = _kid(stages[1].shredder.seal("plate_read", _records("AB12345", 5)["plate_read"]))  # type: ignore[union-attr]
    wall.ms = end + 1  # the turn: both seal with the tree made ahead, no new one
    kids = {
        _kid(s.shredder.seal("plate_read", _records("AB12345", 6)["plate_read"]))  # type: ignore[union-attr]
        for s in stages
    }
    assert len(kids) == 1 and kids != {before} and len(bucket.objects) == 2


def test_the_sinks_erasure_loop_mends_a_lost_puncture_and_deletes_dead_trees() -> None:
    """What services/sink/erasure.py runs every 10 minutes, on the same trees."""
    import threading

    from platestream.privacy.erasure import ErasureLedger
    from services.sink.erasure import ErasureLoop
    from services.sink.settings import SinkSettings

    bucket, wall = MemoryBucket(), Wall()
    read = _serde(bucket, wall).encode("plate_read", _records("ERA5E01", 1)["plate_read"])
    kept = _serde(bucket, wall).encode("plate_read", _records("KEEP001", 1)["plate_read"])
    ledger = ErasureLedger(KEY)
    ledger.subjects[subject_id("ERA5E01", KEY)] = wall.ms + 1  # erased, the puncture lost
    loop = ErasureLoop(
        settings=SinkSettings(),
        consumer=None,  # type: ignore[arg-type]  (neither method reads the topic)
        clickhouse=None,
        s3=None,
        serde=_serde(bucket, wall),
        dead_letters=None,  # type: ignore[arg-type]
        producer=None,
        ledger=ledger,
        stop=threading.Event(),
    )
    assert loop.mend_key_trees() == 1 and loop.mend_key_trees() == 0
    with pytest.raises(Shredded):
        _serde(bucket, wall).decode(read)
    assert _serde(bucket, wall).decode(kept)["plate"] == "KEEP001"
    assert loop.expire_key_trees() == 0 and len(bucket.objects) == 1
    wall.ms = _trees(bucket, wall)[0].expires_ms
    assert loop.expire_key_trees() == 1 and not bucket.objects
    with pytest.raises(Shredded):
        _serde(bucket, wall).decode(kept)
