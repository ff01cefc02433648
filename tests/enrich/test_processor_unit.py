"""The processor's batch logic without a broker: offsets held back, early alerts, dead letters."""

from __future__ import annotations

from typing import Any

from platestream.serde import AvroSerde
from services.enrich.bench import _Msg
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
