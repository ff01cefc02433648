"""The processor's batch logic without a broker: offsets held back, early alerts, dead letters."""

from __future__ import annotations

from typing import Any

from platestream.bench.inmemory import InMemoryMessage as _Msg
from platestream.serde import AvroSerde
from services.enrich.bolo import Entry, Watchlists
from services.enrich.processor import EnrichProcessor
from services.enrich.settings import EnrichSettings

from .helpers import plate_read

SERDE = AvroSerde()


class Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def produce(
        self, topic: str, key: bytes | None = None, value: bytes | None = None, **_: Any
    ) -> None:
        self.sent.append((topic, SERDE.decode(value)))

    def poll(self, _t: float = 0) -> int:
        return 0

    def flush(self, _t: float = 0) -> int:
        return 0


class DeadLetters:
    def __init__(self) -> None:
        self.records: list[tuple[Any, BaseException]] = []

    def record(self, msg: Any, exc: BaseException) -> None:
        self.records.append((msg, exc))


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000

    def __call__(self) -> int:
        return self.now


def make(
    watchlists: Watchlists | None = None,
) -> tuple[EnrichProcessor, Producer, DeadLetters, Clock]:
    settings = EnrichSettings(enrich_metrics_port=0, enrich_gap_ms=1000, enrich_idle_close_ms=5000)
    producer, dlq, clock = Producer(), DeadLetters(), Clock()
    proc = EnrichProcessor(
        settings=settings,
        consumer=None,  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        serde=SERDE,
        watchlists=watchlists,
        dead_letters=dlq,  # type: ignore[arg-type]
        clock=clock,
    )
    return proc, producer, dlq, clock


def msg(proc: EnrichProcessor, offset: int, rec: dict[str, Any] | bytes) -> _Msg:
    value = rec if isinstance(rec, bytes) else SERDE.encode("plate_read", rec)
    return _Msg(proc.reads_topic, 0, offset, value, b"cam")


def test_offsets_are_held_back_to_the_oldest_open_passage() -> None:
    proc, producer, dlq, clock = make()
    tp = (proc.reads_topic, 0)
    proc.process(
        [
            msg(proc, 10, plate_read("a", "cam", "ABC1234", 5_000)),
            msg(proc, 11, plate_read("b", "cam", "ABC1234", 5_100)),
            msg(proc, 12, b"\x00garbage"),
        ]
    )
    assert proc.committable() == {tp: 10}
    assert len(dlq.records) == 1 and dlq.records[0][0].offset() == 12
    # another vehicle 2 s later (event time) closes the first passage
    proc.process([msg(proc, 13, plate_read("c", "cam", "XYZ9876", 7_200))])
    assert proc.close_due() == 1
    assert proc.committable() == {tp: 13}
    assert [r["plate"] for t, r in producer.sent if t == proc.events_topic] == ["ABC1234"]
    # the wall-clock idle timer closes the last one; then everything read is committable
    clock.now += 5_001
    assert proc.close_due() == 1
    assert proc.committable() == {tp: 14}


def test_early_alert_then_no_second_alert_at_close() -> None:
    wl = Watchlists()
    wl.upsert(
        Entry.from_record(
            {
                "entry_id": "e1",
                "list_id": "l",
                "list_kind": "bolo",
                "pattern": "BAD1234",
                "match_type": "exact",
                "updated_at": 0,
            }
        )
    )
    proc, producer, _, clock = make(wl)
    proc.process(
        [
            msg(proc, 0, plate_read("a", "cam", "BAD1234", 5_000, 0.95)),
            msg(proc, 1, plate_read("b", "cam", "BAD1234", 5_100, 0.97)),
        ]
    )
    alerts = [r for t, r in producer.sent if t == proc.alerts_topic]
    assert len(alerts) == 1 and alerts[0]["early"] is True and alerts[0]["read_id"] == "a"
    clock.now += 10_000
    proc.close_due()
    events = [r for t, r in producer.sent if t == proc.events_topic]
    assert [r for t, r in producer.sent if t == proc.alerts_topic] == alerts
    assert events[0]["event_id"] == alerts[0]["event_id"]
    assert events[0]["access_status"] == "watchlisted" and events[0]["watchlist_hits"] == ["e1"]


def test_a_skipped_offset_range_is_read_back_and_handled_first() -> None:
    settings = EnrichSettings(enrich_metrics_port=0, enrich_gap_ms=1000, enrich_idle_close_ms=5000)
    producer, dlq, clock = Producer(), DeadLetters(), Clock()
    asked: list[tuple[str, int, range]] = []
    holder: dict[str, EnrichProcessor] = {}

    def read_back(topic: str, partition: int, offsets: range) -> list[Any]:
        asked.append((topic, partition, offsets))
        proc = holder["p"]
        return [msg(proc, o, plate_read(f"gap{o}", f"cam{o}", f"GAP{o}", 5_000)) for o in offsets]

    proc = EnrichProcessor(
        settings=settings,
        consumer=None,  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        serde=SERDE,
        dead_letters=dlq,  # type: ignore[arg-type]
        read_back=read_back,
        clock=clock,
    )
    holder["p"] = proc
    proc.process([msg(proc, 5, plate_read("a", "camA", "AAA111", 5_000))])
    proc.process([msg(proc, 9, plate_read("b", "camB", "BBB222", 5_000))])
    assert asked == [(proc.reads_topic, 0, range(6, 9))]
    assert (proc.stats.gaps, proc.stats.gap_reads, proc.stats.reads) == (1, 3, 5)
    clock.now += 60_000
    proc.close_due()
    plates = sorted(rec["plate"] for topic, rec in producer.sent if topic == proc.events_topic)
    assert plates == ["AAA111", "BBB222", "GAP6", "GAP7", "GAP8"]
    assert proc.committable()[(proc.reads_topic, 0)] == 10


class FailingProducer(Producer):
    """Acknowledges nothing: every produced record is reported as failed."""

    def __init__(self, proc_holder: dict[str, EnrichProcessor]) -> None:
        super().__init__()
        self.holder = proc_holder

    def flush(self, _t: float = 0) -> int:
        self.holder["p"].offsets.on_delivery(
            "broker acknowledged without an offset", _Msg("t", 0, -1, b"", b"")
        )
        return 0


class Consumer:
    def __init__(self) -> None:
        self.commits: list[Any] = []

    def commit(self, offsets: Any = None, asynchronous: bool = True) -> None:
        self.commits.append(offsets)


def test_after_a_failed_delivery_nothing_is_committed_again() -> None:
    """A failed plate event must make its reads be re-read: no later commit (on revoke, on exit,
    or after the error was reported) may move the partition past them."""
    import pytest
    from confluent_kafka import TopicPartition

    from platestream.errors import PlatestreamError

    holder: dict[str, EnrichProcessor] = {}
    producer, consumer, clock = FailingProducer(holder), Consumer(), Clock()
    settings = EnrichSettings(enrich_metrics_port=0, enrich_gap_ms=1000, enrich_idle_close_ms=5000)
    proc = EnrichProcessor(
        settings=settings,
        consumer=consumer,  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        serde=SERDE,
        dead_letters=DeadLetters(),  # type: ignore[arg-type]
        clock=clock,
    )
    holder["p"] = proc
    proc.process([msg(proc, 0, plate_read("a", "cam", "AAA111", 5_000))])
    clock.now += 60_000
    proc.close_due()
    with pytest.raises(PlatestreamError, match="not delivered"):
        proc.flush_and_commit()
    with pytest.raises(PlatestreamError, match="not delivered"):
        proc.flush_and_commit(sync=True)
    proc._on_revoke(consumer, [TopicPartition(proc.reads_topic, 0)])  # type: ignore[arg-type]
    assert consumer.commits == []


def test_a_device_read_inside_an_exclusion_zone_is_dropped_and_counted() -> None:
    import json

    from services.enrich.enrichment import Cameras

    from .helpers import camera_event

    cameras = Cameras()
    exclude_right = {"roi": [], "exclusions": [[[0.5, 0], [1, 0], [1, 1], [0.5, 1]]]}
    cameras.apply("cam-z", {"camera_id": "cam-z", "roi": json.dumps(exclude_right)})
    settings = EnrichSettings(enrich_metrics_port=0, enrich_gap_ms=1000, enrich_idle_close_ms=5000)
    producer, clock = Producer(), Clock()
    proc = EnrichProcessor(
        settings=settings,
        consumer=None,  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        serde=SERDE,
        cameras=cameras,
        dead_letters=DeadLetters(),  # type: ignore[arg-type]
        clock=clock,
    )
    overview = {"kind": "scene", "content_type": "image/jpeg", "width": 1920, "height": 1080}
    events = []
    for n, (plate, x) in enumerate((("RIGHT1", 1500), ("LEFT22", 100))):
        ev = {**camera_event(f"e{n}", "cam-z", plate, 5_000 + n), "lane": n}
        ev["plate_box"] = {"x": x, "y": 500, "w": 200, "h": 50}
        ev["images"] = [overview]
        events.append(_Msg(proc.camera_events_topic, 0, n, SERDE.encode("camera_event", ev), b"c"))
    proc.process(events)
    clock.now += 60_000
    proc.close_due()
    plates = [rec["plate"] for topic, rec in producer.sent if topic == proc.events_topic]
    assert plates == ["LEFT22"]
    assert proc.stats.outside_zones == 1
