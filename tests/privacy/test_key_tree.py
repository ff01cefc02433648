"""The puncturable key tree behind crypto-shredding's subject keys (platestream/privacy/key_tree.py):
a punctured subject's key is derivable from nothing kept, every other subject's key is unchanged,
and the stored form reads back to the same tree."""

from __future__ import annotations

import itertools
import random

import pytest

from platestream.privacy.key_tree import DEPTH, V2, KeyTree


def _sids(n: int, seed: int = 1) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(4 * DEPTH):0{DEPTH}x}" for _ in range(n)]


def test_a_punctured_subject_is_derivable_from_nothing_kept_and_the_others_are_unchanged() -> None:
    tree = KeyTree.new(1)
    sids = _sids(300)
    # neighbours that share all but the last digit, and all but the first
    sids += [sids[0][:-1] + ("0" if sids[0][-1] != "0" else "1"), "f" + sids[0][1:]]
    before = {sid: tree.leaf(sid) for sid in sids}
    assert len(set(before.values())) == len(sids)  # a key per subject
    erased = [sids[0], sids[5], sids[123]]
    for sid in erased:
        assert tree.puncture(sid)
        assert not tree.puncture(sid)  # already
    for sid in erased:
        assert tree.leaf(sid) is None
        # nothing kept lies on its path: no kept node derives it
        assert not [p for p in tree.frontier if sid.startswith(p)]
    for sid in sids:
        if sid not in erased:
            assert tree.leaf(sid) == before[sid], sid
    # a frontier node is never below another
    prefixes = sorted(tree.frontier)
    assert all(not b.startswith(a) for a, b in itertools.pairwise(prefixes))


def test_the_stored_form_reads_back_to_the_same_tree_and_grows_about_10_kb_per_erasure() -> None:
    tree = KeyTree.new(1_780_000_000_000)
    sids = _sids(50, seed=2)
    for sid in sids[:10]:
        tree.puncture(sid)
    data = tree.to_bytes()
    back = KeyTree.from_bytes(data)
    assert back.created_ms == tree.created_ms and back.frontier == tree.frontier
    assert [back.leaf(s) for s in sids] == [tree.leaf(s) for s in sids]
    assert len(tree.frontier) <= 10 * 15 * DEPTH
    assert len(data) < 10 * 15 * DEPTH * 29 + 8
    with pytest.raises(ValueError):
        KeyTree.from_bytes(data[:-3])  # cut short
    with pytest.raises(ValueError):
        KeyTree.from_bytes(b"\x00" * 4)


def test_two_trees_give_unrelated_keys_and_odd_subject_ids_are_refused() -> None:
    a, b = KeyTree.new(1), KeyTree.new(2)
    sid = _sids(1, seed=3)[0]
    assert a.leaf(sid) != b.leaf(sid)
    assert a.leaf(sid.upper()) == a.leaf(sid)  # hex digits, either case
    assert a.leaf(sid[:10]) is None
    with pytest.raises(ValueError):
        a.puncture("not-a-subject-id-at-all-xx")
    with pytest.raises(ValueError):
        a.puncture(sid[:10])


def test_the_key_benchmark_reports_the_cost_of_a_new_plate_and_the_trees_growth() -> None:
    from platestream.bench.subject_keys import measure, summary_text

    result = measure(plates=200, runs=2, erasures=(1, 3))
    assert result["new_plate_us"] > 0 and len(result["new_plate_us_runs"]) == 2
    one, three = result["tree_after_erasures"]
    assert (one["erasures"], three["erasures"]) == (1, 3)
    assert one["nodes"] == 15 * DEPTH  # the root's 16 children less one, at every level
    assert three["nodes"] > 2 * one["nodes"] and three["bytes"] > one["bytes"]
    assert "new plate" in summary_text(result)


def test_a_tree_keeps_its_lifetime_and_the_first_builds_form_still_reads() -> None:
    tree = KeyTree.new(1_780_000_000_000, keep_ms=5, seal_until_ms=6, expires_ms=7)
    tree.puncture(_sids(1, seed=3)[0])
    back = KeyTree.from_bytes(tree.to_bytes())
    assert (back.keep_ms, back.seal_until_ms, back.expires_ms) == (5, 6, 7)
    assert back.frontier == tree.frontier and back.expired_at(7) and not back.expired_at(6)
    data = tree.to_bytes()
    first_build = data[len(V2) : len(V2) + 8] + data[len(V2) + 32 :]  # created_ms, the nodes
    old = KeyTree.from_bytes(first_build)
    assert old.created_ms == tree.created_ms and old.frontier == tree.frontier
    assert (old.keep_ms, old.seal_until_ms, old.expires_ms) == (0, 0, 0)
    assert old.seals_at(10**15) and not old.expired_at(10**15)
