"""A stage reads the key trees it seals or opens with, not every live one: a tree's lifetime is in
its object's name (platestream/privacy/key_bucket.py), so choosing the sealing tree, expiring
dead trees and the retention report need only the listing; an erasure still punctures every
live tree; trees named before the lifetime moved into the name are read at the listing and
work as before; a name whose lifetime was altered does not unwrap."""

from __future__ import annotations

import os

import pytest

from platestream.errors import SerdeError
from platestream.privacy.erasure import subject_id
from platestream.privacy.key_bucket import listed_tree, tree_object
from platestream.privacy.key_tree import KeyTree
from platestream.privacy.shredding import KEEP_MS, Shredded
from platestream.privacy.subject_keys import NONCE, TREES
from tests.privacy.test_key_expiry import DAY, PERIOD, START, Wall, _serde
from tests.privacy.test_shredding import KEY, MemoryBucket, _records


def _keys(bucket: MemoryBucket, wall: Wall):  # type: ignore[no-untyped-def]
    return _serde(bucket, wall).shredder.keys  # type: ignore[union-attr]


def _four_trees(bucket: MemoryBucket, wall: Wall) -> tuple[bytes, bytes]:
    """Reads and alerts sealed in two periods: four trees. Returns (an old read, a new read)."""
    writer = _serde(bucket, wall)
    old = writer.encode("plate_read", _records("AB12345", 1)["plate_read"])
    writer.encode("bolo_alert", _records("AB12345", 1)["bolo_alert"])
    wall.ms += PERIOD
    new = writer.encode("plate_read", _records("CD67890", 2)["plate_read"])
    writer.encode("bolo_alert", _records("CD67890", 2)["bolo_alert"])
    assert len(bucket.objects) == 4
    return old, new


def test_the_name_carries_the_lifetime_and_reads_back() -> None:
    tree = KeyTree.new(START, keep_ms=30 * DAY, seal_until_ms=START + PERIOD, expires_ms=9 * PERIOD)
    name, life = listed_tree(tree_object("0a1b2c3d", tree))
    assert name == "0a1b2c3d" and life is not None and not life.frontier
    times = (life.created_ms, life.keep_ms, life.seal_until_ms, life.expires_ms)
    assert times == (START, 30 * DAY, START + PERIOD, 9 * PERIOD)
    assert listed_tree(TREES + "0a1b2c3d") == ("0a1b2c3d", None)  # named before: read it


def test_a_stage_reads_only_the_trees_it_seals_or_opens_with() -> None:
    bucket, wall = MemoryBucket(), Wall()
    old, new = _four_trees(bucket, wall)
    reader = _serde(bucket, wall)
    keys = reader.shredder.keys  # type: ignore[union-attr]
    assert reader.decode(new)["plate"] == "CD67890"
    assert keys.fetched == 1  # the tree that sealed it, of four
    assert reader.decode(old)["plate"] == "AB12345"
    assert keys.fetched == 2
    sealer = _serde(bucket, wall)
    sealer.encode("plate_read", _records("EF11111", 3)["plate_read"])
    assert sealer.shredder.keys.fetched == 1  # type: ignore[union-attr]  # this period's reads tree
    assert len(bucket.objects) == 4  # and no new tree: the listing found this period's


def test_lifetimes_and_expiry_need_no_tree_read_and_an_erasure_punctures_every_live_tree() -> None:
    bucket, wall = MemoryBucket(), Wall()
    old, new = _four_trees(bucket, wall)
    keys = _keys(bucket, wall)
    lives = sorted((t.keep_ms, t.seal_until_ms) for t in keys.trees())
    end = (START // PERIOD + 1) * PERIOD
    reads, alerts = KEEP_MS["plate_read"], KEEP_MS["bolo_alert"]
    assert lives == [(reads, end), (reads, end + PERIOD), (alerts, end), (alerts, end + PERIOD)]
    assert keys.fetched == 0
    assert keys.shred(subject_id("AB12345", KEY)) == 4  # read and punctured in every tree
    assert keys.fetched == 4
    with pytest.raises(Shredded):
        _serde(bucket, wall).decode(old)
    assert _serde(bucket, wall).decode(new)["plate"] == "CD67890"
    wall.ms = min(t.expires_ms for t in keys.trees())  # the first reads tree is dead
    fresh = _keys(bucket, wall)
    assert fresh.expire() == 1 and fresh.fetched == 0
    assert len(bucket.objects) == 3


def test_a_tree_named_before_the_lifetime_moved_into_the_name_is_read_at_the_listing() -> None:
    bucket, wall = MemoryBucket(), Wall()
    keys = _keys(bucket, wall)
    end = (START // PERIOD + 1) * PERIOD
    tree = KeyTree.new(
        START - DAY, keep_ms=KEEP_MS["plate_read"], seal_until_ms=end, expires_ms=end + 90 * DAY
    )
    name = TREES + "1234abcd"
    nonce = os.urandom(NONCE)
    bucket.make_bucket("keys")
    bucket.objects[("keys", name)] = nonce + keys._wrap.encrypt(
        nonce, tree.to_bytes(), name.encode()
    )
    assert [t.expires_ms for t in keys.trees()] == [end + 90 * DAY] and keys.fetched == 1
    sid = subject_id("AB12345", KEY)
    kid, _ = keys.sealing_key(sid, KEEP_MS["plate_read"])
    assert kid == f"{sid[:24]}.1234abcd" and len(bucket.objects) == 1  # it seals this period
    assert keys.shred(sid) == 1
    assert set(n for _, n in bucket.objects) == {name}  # written back under its own name


def test_a_tree_whose_name_was_given_another_lifetime_does_not_unwrap() -> None:
    bucket, wall = MemoryBucket(), Wall()
    _old, new = _four_trees(bucket, wall)
    for (b, n), body in list(bucket.objects.items()):
        name, life = listed_tree(n)
        assert life is not None
        life.expires_ms += 365 * DAY  # an attempt to keep a tree alive past its end
        bucket.objects.pop((b, n))
        bucket.objects[(b, tree_object(name, life))] = body
    with pytest.raises(SerdeError, match="does not unwrap"):
        _serde(bucket, wall).decode(new)
