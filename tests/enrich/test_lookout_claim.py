"""The lookout and the loop agree on who alerts a read, without a broker: a read the loop took is
the loop's; a read the lookout claimed is completed by the loop under the lookout's id, also when
the loop reads it again (services/enrich/lookout.py)."""

from __future__ import annotations

from types import SimpleNamespace

from services.enrich.alerts import early_alert_id
from services.enrich.lookout import AlertLookout
from services.enrich.passage import Read
from services.enrich.settings import EnrichSettings
from tests.fakes import Record

TOPIC = "anpr.plate-reads.v1"
TP = (TOPIC, 0)
ENTRY = SimpleNamespace(entry_id="e-1", list_kind="bolo")


def _lookout(sent: list[tuple[str, str]]) -> AlertLookout:
    lookout = AlertLookout(
        settings=EnrichSettings(env="test"),
        consumer=None,  # type: ignore[arg-type]  # handle() and take() do not read the broker
        serde=SimpleNamespace(decode=lambda value: value),
        watchlists=SimpleNamespace(entries={"e-1": ENTRY}, match=lambda *a, **k: [ENTRY]),  # type: ignore[arg-type]
        cameras=SimpleNamespace(get=lambda camera_id: None),  # type: ignore[arg-type]
        reads_topic=TOPIC,
        camera_events_topic="anpr.camera-events.v1",
        loop_positions=dict,
        loop_times=dict,
        alert=lambda entry, read: sent.append(
            (entry.entry_id, early_alert_id(entry.entry_id, read.read_id))
        ),
    )
    lookout.started_at[TP] = 0  # the loop is behind on this partition: the lookout reads it
    # the records are decoded as the loop decodes them (services/enrich/reads.py, tested there)
    lookout._read = lambda rec, tp, offset: _read(offset, rec["read_id"])  # type: ignore[method-assign]
    return lookout


def _read(offset: int, read_id: str) -> Read:
    ts = 1_000 + offset * 60_000  # a minute apart: past the lookout's gap per camera and entry
    return Read(read_id, "cam-1", 1, ts, "HIT4242", 0.95, tp=TP, offset=offset)


def test_a_read_the_loop_took_first_is_not_alerted_by_the_lookout() -> None:
    sent: list[tuple[str, str]] = []
    lookout = _lookout(sent)
    assert lookout.take(_read(5, "r-5")) == []  # the loop got there first
    lookout.handle(Record(TOPIC, 0, 5, {"read_id": "r-5"}))  # type: ignore[arg-type]
    lookout.handle(Record(TOPIC, 0, 4, {"read_id": "r-4"}))  # type: ignore[arg-type]  # and one before it
    assert sent == []


def test_a_read_the_lookout_claimed_is_completed_under_its_id_every_time_the_loop_reads_it() -> (
    None
):
    sent: list[tuple[str, str]] = []
    lookout = _lookout(sent)
    lookout.handle(Record(TOPIC, 0, 6, {"read_id": "r-6"}))  # type: ignore[arg-type]
    assert sent == [("e-1", early_alert_id("e-1", "r-6"))]
    assert lookout.take(_read(6, "r-6")) == [ENTRY]
    assert lookout.take(_read(6, "r-6")) == [ENTRY]  # read again after a rebalance: the same
    lookout.handle(Record(TOPIC, 0, 6, {"read_id": "r-6"}))  # type: ignore[arg-type]  # the lookout does not repeat it
    assert len(sent) == 1


def test_a_partition_the_lookout_does_not_watch_costs_the_loop_no_lock() -> None:
    lookout = _lookout([])
    lookout.started_at.clear()
    assert lookout.take(_read(7, "r-7")) == []
    assert lookout._loop_took == {}


def test_a_vehicle_read_on_and_on_is_alerted_once_by_the_lookout() -> None:
    sent: list[tuple[str, str]] = []
    lookout = _lookout(sent)
    # a parked car read every second for 20 s (the gap is 3 s): one passage to the loop
    lookout._read = lambda rec, tp, offset: Read(  # type: ignore[method-assign]
        rec["read_id"], "cam-1", 1, 1_000 + offset * 1_000, "HIT4242", 0.95, tp=TP, offset=offset
    )
    for offset in range(20):
        lookout.handle(Record(TOPIC, 0, offset, {"read_id": f"p-{offset}"}))  # type: ignore[arg-type]
    assert sent == [("e-1", early_alert_id("e-1", "p-0"))]
    # the car leaves; the same plate 10 s later is another passage: alerted again
    lookout.handle(Record(TOPIC, 0, 30, {"read_id": "p-30"}))  # type: ignore[arg-type]
    assert sent[1:] == [("e-1", early_alert_id("e-1", "p-30"))]
