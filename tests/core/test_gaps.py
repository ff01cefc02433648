"""Offset gaps: skipped records are noticed per partition and read back in order."""

from __future__ import annotations

from typing import Any

from platestream.gaps import GapWatch, with_gaps
from tests.fakes import Record


def positions(msgs: list[Any]) -> list[tuple[str, int, int]]:
    return [(m.topic(), m.partition(), m.offset()) for m in msgs]


def test_skipped_offsets_are_read_back_before_the_record_after_them() -> None:
    asked: list[tuple[str, int, range]] = []

    def read_back(topic: str, partition: int, offsets: range) -> list[Any]:
        asked.append((topic, partition, offsets))
        return [Record(topic, partition, o) for o in offsets if o != 4]  # 4 is a hole in the log

    watch = GapWatch()
    msgs = [
        Record("a", 0, 1),
        Record("a", 1, 7),
        Record("a", 0, 2),
        Record("a", 0, 6),
        Record("a", 1, 8),
    ]
    out, gaps = with_gaps(msgs, watch, read_back)  # type: ignore[arg-type]
    assert gaps == 1
    assert asked == [("a", 0, range(3, 6))]
    assert positions(out) == [
        ("a", 0, 1),
        ("a", 1, 7),
        ("a", 0, 2),
        ("a", 0, 3),
        ("a", 0, 5),
        ("a", 0, 6),
        ("a", 1, 8),
    ]


def test_committed_offset_is_the_expected_start_and_compacted_topics_pass_through() -> None:
    watch = GapWatch()
    watch.expect(("a", 0), 10)  # committed offset 10: the next record should be 10
    got: list[range] = []

    def read_back(topic: str, partition: int, offsets: range) -> list[Any]:
        got.append(offsets)
        return []

    out, gaps = with_gaps(
        [Record("a", 0, 12), Record("c", 0, 50), Record("c", 0, 90)],
        watch,
        read_back,  # type: ignore[arg-type]
        contiguous=lambda t: t != "c",
    )
    assert (gaps, got) == (1, [range(10, 12)])
    assert positions(out) == [("a", 0, 12), ("c", 0, 50), ("c", 0, 90)]
    # a re-delivery (offset below the expected one) is no gap; after forget, no baseline
    assert watch.see(("a", 0), 11) is None
    watch.forget({("a", 0)})
    assert watch.see(("a", 0), 40) is None
