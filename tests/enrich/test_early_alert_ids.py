"""An early alert has one id whoever raises it, also across a restart, without a broker.

The lookout alerts a confident hit ahead of a lagging loop; if enrich is killed before its loop
reaches that read, the restarted process has no lookout notes, and its loop alerts the same read
itself. Both must use the same alert id, or one hit reaches receivers twice under two ids (the
short fault suite saw this once: 98 alert ids for 92 hits, the extra ones with no event id).
"""

from __future__ import annotations

from typing import Any

from platestream.bench.inmemory import InMemoryMessage
from platestream.serde import AvroSerde
from services.enrich.alerts import early_alert_id
from services.enrich.bolo import Entry, Watchlists
from services.enrich.lookout import AlertLookout
from services.enrich.processor import EnrichProcessor
from services.enrich.settings import EnrichSettings

from .helpers import bolo_entry, plate_read

T0 = 1_767_225_600_000


class _Producer:
    """Keeps what it is given (topic, value) and acknowledges everything at once."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes]] = []

    def produce(self, topic: str, key: bytes | None = None, value: bytes = b"", **_: Any) -> None:
        self.sent.append((topic, value))

    def poll(self, _t: float = 0) -> int:
        return 0

    def flush(self, _t: float = 0) -> int:
        return 0


class _Consumer:
    def commit(self, **_: Any) -> None:
        pass


def _processor(serde: AvroSerde, clock: list[int]) -> tuple[EnrichProcessor, _Producer]:
    watchlists = Watchlists()
    watchlists.load([Entry.from_record(bolo_entry("e-stolen", "HIT4242"))])
    producer = _Producer()
    proc = EnrichProcessor(
        settings=EnrichSettings(env="test", enrich_metrics_port=0),
        consumer=_Consumer(),  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        serde=serde,
        watchlists=watchlists,
        clock=lambda: clock[0],
    )
    return proc, producer


def _alerts(serde: AvroSerde, proc: EnrichProcessor, producer: _Producer) -> list[dict[str, Any]]:
    return [serde.decode(v) for t, v in producer.sent if t == proc.alerts_topic]


def test_the_loop_of_a_restarted_enrich_alerts_a_hit_under_the_lookouts_id() -> None:
    serde = AvroSerde()
    clock = [T0]
    records = [
        plate_read("r-0", "cam-1", "HIT4242", T0, 0.6),  # not confident: no early alert on it
        plate_read("r-1", "cam-1", "HIT4242", T0 + 100, 0.95),  # the hit
        plate_read("r-2", "cam-1", "HIT4242", T0 + 200, 0.97),
    ]
    first, first_out = _processor(serde, clock)
    msgs = [
        InMemoryMessage(first.reads_topic, 0, i, serde.encode("plate_read", r), b"")
        for i, r in enumerate(records)
    ]
    lookout = AlertLookout(
        settings=first.settings,
        consumer=None,  # type: ignore[arg-type]  # handle() does not read the broker
        serde=serde,
        watchlists=first.watchlists,
        cameras=first.cameras,
        reads_topic=first.reads_topic,
        camera_events_topic=first.camera_events_topic,
        loop_positions=dict,
        loop_times=dict,
        alert=first.alerts_out.lookout,
    )
    lookout.started_at[(first.reads_topic, 0)] = 0  # the loop lags: the lookout reads ahead
    for msg in msgs:
        lookout.handle(msg)  # type: ignore[arg-type]
    ahead = _alerts(serde, first, first_out)
    assert [(a["alert_id"], a["event_id"], a["read_id"]) for a in ahead] == [
        (early_alert_id("e-stolen", "r-1"), "", "r-1")
    ]
    # killed here: its loop never reached the reads, its notes are gone with it
    second, second_out = _processor(serde, clock)
    second.process(msgs)  # type: ignore[arg-type]
    clock[0] += 60_000
    second.close_due()
    events = [serde.decode(v) for t, v in second_out.sent if t == second.events_topic]
    again = _alerts(serde, second, second_out)
    assert len(events) == 1 and events[0]["read_ids"] == ["r-0", "r-1", "r-2"]
    assert [(a["alert_id"], a["event_id"], a["early"]) for a in again] == [
        (ahead[0]["alert_id"], events[0]["event_id"], True)
    ]


def test_a_hit_below_the_early_confidence_alerts_at_the_close_under_the_passages_id() -> None:
    serde = AvroSerde()
    clock = [T0]
    proc, out = _processor(serde, clock)
    value = serde.encode("plate_read", plate_read("r-9", "cam-1", "HIT4242", T0, 0.6))
    proc.process([InMemoryMessage(proc.reads_topic, 0, 0, value, b"")])  # type: ignore[list-item]
    assert _alerts(serde, proc, out) == []
    clock[0] += 60_000
    proc.close_due()
    (alert,) = _alerts(serde, proc, out)
    event = next(serde.decode(v) for t, v in out.sent if t == proc.events_topic)
    assert alert["early"] is False and alert["event_id"] == event["event_id"]
    assert alert["alert_id"] != early_alert_id("e-stolen", "r-9")
