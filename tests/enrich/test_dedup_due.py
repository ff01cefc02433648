"""The tracker's indexed `due` closes exactly what a scan of every open passage would close."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from services.enrich.dedup import DedupConfig, PassageTracker
from services.enrich.passage import Passage, Read


def scan_due(tracker: PassageTracker, wall_ms: int) -> set[str]:
    """The rule `due` applies, tested on every open passage (what `due` did before its index)."""
    cfg = tracker.config
    return {
        p.event_id
        for (cam, _lane), passages in tracker.open.items()
        for p in passages
        if tracker.watermark.get(cam, 0) - p.last_seen > cfg.gap_ms
        or wall_ms - p.last_wall > cfg.idle_close_ms
        or p.last_seen - p.first_seen >= cfg.max_passage_ms
    }


# one step: a read (camera, lane, plate, event-time step, wall step), a due call, or a revocation
reads = st.tuples(
    st.just("read"),
    st.sampled_from(["cam1", "cam2", "cam3"]),
    st.sampled_from([None, 1, 2]),
    st.sampled_from(["ABC1234", "A8C1234", "ABC1284", "XYZ9876", "XY29876", "QQQ1111"]),
    st.integers(-2_000, 4_000),  # event time may go back (late reads)
    st.integers(0, 2_500),
)
dues = st.tuples(st.just("due"), st.integers(0, 8_000))
revokes = st.tuples(st.just("revoke"), st.sampled_from([0, 1]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(reads, reads, reads, dues, revokes), min_size=1, max_size=120))
def test_indexed_due_matches_a_scan_of_every_passage(steps: list[tuple]) -> None:  # type: ignore[type-arg]
    tracker = PassageTracker(DedupConfig(max_passage_ms=9_000, holdoff_ms=5_000))
    ts, wall, n = 1_000_000, 5_000_000, 0
    for step in steps:
        if step[0] == "read":
            _, cam, lane, plate, dt, dw = step
            ts, wall, n = ts + dt, wall + dw, n + 1
            r = Read(
                read_id=f"r{n}",
                camera_id=cam,
                lane=lane,
                ts=ts,
                plate=plate,
                confidence=0.9,
                tp=("reads", n % 2),
                offset=n,
            )
            tracker.add(r, wall)
        elif step[0] == "due":
            wall += step[1]
            expected = scan_due(tracker, wall)
            closed = tracker.due(wall)
            assert {p.event_id for p in closed} == expected
            assert all(p.closed for p in closed)
            for p in closed:
                tracker.hold(p, p.consensus()[0])
        else:
            tracker.drop_partitions({("reads", step[1])})
        still_open: list[Passage] = list(tracker.passages())
        assert not any(p.closed for p in still_open)
        assert set(tracker._lanes) == {cam for cam, _lane in tracker.open}
