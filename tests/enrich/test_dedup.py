"""Passage grouping, consensus, holds and the offset rule, without any server."""

from __future__ import annotations

from platestream.ids import stable_id
from services.enrich.dedup import DedupConfig, PassageTracker
from services.enrich.enrichment import box_direction
from services.enrich.passage import Read
from services.enrich.voting import align, consensus


def read(
    i: int,
    plate: str,
    conf: float = 0.9,
    *,
    ts: int | None = None,
    cam: str = "cam1",
    lane: int | None = 1,
    offset: int | None = None,
    box: tuple[int, int, int, int] | None = None,
) -> Read:
    return Read(
        read_id=f"r{i}",
        camera_id=cam,
        lane=lane,
        ts=1_000_000 + i * 100 if ts is None else ts,
        plate=plate,
        confidence=conf,
        tp=("reads", 0),
        offset=i if offset is None else offset,
        box=box,
    )


def test_consensus_weighted_vote_per_character() -> None:
    plate, conf = consensus({"ABC1234": (1.8, [1.8] * 7), "A8C1234": (0.7, [0.7] * 7)}, 0.9)
    assert plate == "ABC1234"
    # position 1: B 1.8 vs 8 0.7 -> share 1.8/2.5; other positions unanimous
    assert conf == round(0.9 * (6 + 1.8 / 2.5) / 7, 4)


def test_consensus_uses_char_confidences() -> None:
    # Two reads of ABC1234 (unsure of the last character) against one ABC1235: per-character
    # confidence decides, not the number of reads.
    plate, _ = consensus({"ABC1234": (1.6, [1.6] * 6 + [0.2]), "ABC1235": (0.7, [0.7] * 7)}, 0.8)
    assert plate == "ABC1235"


def test_consensus_aligns_a_missing_character() -> None:
    variants = {
        "ABC1234": (1.8, [1.8] * 7),
        "A8C1234": (0.8, [0.8] * 7),
        "BC1234": (0.95, [0.95] * 6),  # first character lost: its B must vote at position 1
        "8C1234": (0.9, [0.9] * 6),
    }
    plate, conf = consensus(variants, 0.95)
    assert plate == "ABC1234"
    # position 1: B 1.8 + 0.95 against 8 0.8 + 0.9; position 0: only the full-length reads
    assert conf == round(0.95 * (6 + 2.75 / 4.45) / 7, 4)


def test_align_positions() -> None:
    assert align("ABC1234", "ABC123") == [0, 1, 2, 3, 4, 5]
    assert align("ABC1234", "XABC1234") == [None, 0, 1, 2, 3, 4, 5, 6]
    assert align("ABC1234", "AC1234") == [0, 2, 3, 4, 5, 6]


def test_noisy_reads_of_two_vehicles_make_two_passages() -> None:
    t = PassageTracker(DedupConfig(max_distance=2.0, gap_ms=3000))
    for i, p in enumerate(
        ["ABC1234", "A8C1234", "ABC1Z34", "XYZ9876", "ABC1234", "XYZ987", "XY29876"]
    ):
        t.add(read(i, p), wall_ms=0)
    passages = sorted(t.passages(), key=lambda p: p.first_seen)
    assert [(p.consensus()[0], p.count) for p in passages] == [("ABC1234", 4), ("XYZ9876", 3)]
    assert passages[0].event_id == stable_id("cam1", 1, "r0")
    assert sorted(passages[0].variants) == ["A8C1234", "ABC1234", "ABC1Z34"]


def test_lanes_and_cameras_do_not_mix() -> None:
    t = PassageTracker(DedupConfig())
    t.add(read(0, "ABC1234", lane=1), 0)
    t.add(read(1, "ABC1234", lane=2), 0)
    t.add(read(2, "ABC1234", cam="cam2"), 0)
    assert len(list(t.passages())) == 3


def test_gap_closes_in_event_time_and_wall_time() -> None:
    t = PassageTracker(DedupConfig(gap_ms=3000, idle_close_ms=5000, holdoff_ms=0))
    t.add(read(0, "ABC1234", ts=10_000), wall_ms=0)
    assert t.due(wall_ms=1000) == []
    # another vehicle 3.5 s later (event time) closes the first passage
    t.add(read(1, "XYZ9876", ts=13_501), wall_ms=1000)
    closed = t.due(wall_ms=1000)
    assert [p.consensus()[0] for p in closed] == ["ABC1234"]
    # nothing more arrives: the wall-clock idle timer closes the last one
    assert t.due(wall_ms=5999) == []
    assert [p.consensus()[0] for p in t.due(wall_ms=6001)] == ["XYZ9876"]


def test_same_plate_after_the_gap_is_a_new_passage_without_hold() -> None:
    t = PassageTracker(DedupConfig(gap_ms=3000, holdoff_ms=0))
    t.add(read(0, "ABC1234", ts=10_000), 0)
    t.add(read(1, "ABC1234", ts=14_000), 0)
    assert len(list(t.passages())) == 2


def test_parked_vehicle_gives_one_passage_then_is_absorbed() -> None:
    t = PassageTracker(DedupConfig(gap_ms=3000, max_passage_ms=10_000, holdoff_ms=60_000))
    emitted = []
    for i in range(120):  # a read every 500 ms for 60 s
        wall = i * 500
        t.add(read(i, "ABC1234" if i % 3 else "A8C1234", ts=i * 500), wall)
        for p in t.due(wall):
            emitted.append(p)
            t.hold(p, p.consensus()[0])
    assert len(emitted) == 1
    assert emitted[0].count == 21  # 0 .. 10 s inclusive
    assert t.absorbed == 99
    assert list(t.passages()) == []


def test_hold_expires_and_a_later_visit_is_a_new_passage() -> None:
    t = PassageTracker(DedupConfig(gap_ms=3000, holdoff_ms=60_000))
    t.add(read(0, "ABC1234", ts=0), 0)
    (p,) = t.due(10_000)
    t.hold(p, "ABC1234")
    assert t.add(read(1, "ABC1234", ts=30_000), 10_000) == (None, False)
    t.add(read(2, "XYZ9876", ts=200_000), 10_000)
    assert t.expire_holds() == 1
    passage, opened = t.add(read(3, "ABC1234", ts=200_100), 10_000)
    assert opened and passage is not None


def test_min_open_offsets_hold_back_commit() -> None:
    t = PassageTracker(DedupConfig(gap_ms=3000, idle_close_ms=10_000, holdoff_ms=0))
    t.add(read(0, "ABC1234", ts=0, offset=10), 0)
    t.add(read(1, "XYZ9876", ts=4000, offset=11), 0)  # closes ABC1234 by event time
    t.add(read(2, "XYZ9876", ts=4100, offset=12), 0)
    assert t.min_open_offsets() == {("reads", 0): 10}
    t.due(0)
    assert t.min_open_offsets() == {("reads", 0): 11}
    assert t.drop_partitions({("reads", 0)}) == 1
    assert t.min_open_offsets() == {}


def test_box_direction() -> None:
    assert box_direction((0, (0, 0, 100, 30)), (1, (0, 0, 130, 40))) == "approaching"
    assert box_direction((0, (0, 0, 130, 40)), (1, (0, 0, 100, 30))) == "leaving"
    assert box_direction((0, (0, 0, 100, 30)), (1, (0, 0, 102, 30))) is None
    assert box_direction(None, (1, (0, 0, 1, 1))) is None


def test_within_agrees_with_plate_distance() -> None:
    import itertools

    from platestream.plates import plate_distance
    from services.enrich.voting import within

    plates = [
        "ABC1234",
        "A8C1234",
        "ABC123",
        "4BC1Z34",
        "XBC1234",
        "ABD1235",
        "AB01234",
        "XYZ9876",
        "ABCI234",
        "A8C12",
        "ADQ1234",
        "AQD1234",
        "ABC1LT4",
    ]
    for a, b in itertools.product(plates, repeat=2):
        exact = plate_distance(a, b)
        for limit in (1.0, 2.0):
            got = within(a, b, limit)
            if exact <= limit:
                assert got is not None and got <= exact + 1e-9, (a, b, limit, got, exact)
            else:
                assert got is None, (a, b, limit, got, exact)


def test_passage_mixes_reads_with_and_without_char_confidences() -> None:
    from services.enrich.passage import Passage

    a = read(0, "ABC1234", 0.6)
    b = read(1, "ABC1234", 0.6)
    b.char_confidences = [0.9] * 6 + [0.1]
    c = read(2, "ABC1235", 0.9)
    p = Passage(a, 0)
    p.add(b, 0)
    p.add(c, 0)
    assert p.variants["ABC1234"][1] == [0.6 + 0.9] * 6 + [0.6 + 0.1]
    # last position: 4 has 0.7, 5 has 0.9
    assert p.consensus()[0] == "ABC1235"
    assert p.count == 3 and p.best is c
