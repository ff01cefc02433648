"""The alert lookout: a BOLO hit alerts within a second while enrich is behind on a backlog, and
the loop completes that alert under the same id once it reaches the read (services/enrich/lookout.py)."""

from __future__ import annotations

import time

import pytest

from platestream import topics as catalogue
from platestream.timeutil import now_ms
from services.enrich.alerts import early_alert_id

from .helpers import bolo_entry, camera_event, plate_read, running_enrich

pytestmark = pytest.mark.integration

ALERTS = catalogue.ALERTS.name
EVENTS = catalogue.PLATE_EVENTS.name
BACKLOG = 20_000


def _send(pipe, device: bool, rid: str, camera: str, plate: str, ts: int) -> None:
    """A read of our detector, or a device's camera event (its event id is the read id)."""
    if device:
        topic = catalogue.CAMERA_EVENTS.name
        pipe.send(topic, "camera_event", camera, camera_event(rid, camera, plate, ts, 0.95))
    else:
        pipe.read(plate_read(rid, camera, plate, ts, 0.95))


@pytest.mark.parametrize("device", [False, True], ids=["detector reads", "device reads"])
def test_a_hit_behind_a_backlog_alerts_at_once_and_the_loop_completes_it(
    enrich_settings, pipe, reader, device
) -> None:
    s = enrich_settings.model_copy(
        update={
            "enrich_batch_size": 200,
            "enrich_lookout_lag_ms": 300,
            "enrich_lookout_check_ms": 100,
        }
    )
    pipe.send(catalogue.BOLO.name, "bolo_entry", "e-1", bolo_entry("e-1", "HIT4242"))
    base = now_ms() - 600_000
    for i in range(BACKLOG):  # one camera: one partition, which the loop works through slowly
        _send(pipe, device, f"b-{i}", "cam-slow", f"BK{i:05d}", base + i * 10)
    pipe.flush()
    alerts = reader(ALERTS)
    # about 4,000 reads/s: the backlog takes the loop about 5 s
    with running_enrich(s, batch_pause_s=0.05) as proc:
        assert proc.lookout is not None
        deadline = time.monotonic() + 15
        while not proc.lookout.started_at and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.lookout.started_at, "the lookout never started reading ahead"
        alerts.poll()
        sent = time.time()
        _send(pipe, device, "hit-1", "cam-slow", "HIT4242", now_ms())
        pipe.flush()
        first = alerts.wait_for(lambda r: len(r) >= 1, timeout=5)[0]
        latency = alerts.arrivals[0] - sent
        loop_behind = proc.stats.reads < BACKLOG  # the loop had not reached the hit yet
        events = reader(EVENTS).wait_for(
            lambda r: any(e["plate"] == "HIT4242" for e in r), timeout=60
        )
        got = alerts.wait_for(lambda r: len(r) >= 2, timeout=10)
        alerts.settle(1.0)
        caught_up = not proc.lookout.started_at
    assert latency < 1.0, f"the lookout's alert took {latency:.3f} s"
    assert loop_behind, "the loop was not behind: the test shows nothing"
    hit_event = next(e for e in events if e["plate"] == "HIT4242")
    assert first["alert_id"] == early_alert_id("e-1", "hit-1")
    assert first["event_id"] == "" and first["early"] is True and first["read_id"] == "hit-1"
    assert len(got) == 2, got  # the lookout's, then the loop's: no third, no closing alert
    complete = got[1]
    assert complete["alert_id"] == first["alert_id"]
    assert complete["event_id"] == hit_event["event_id"]
    assert hit_event["watchlist_hits"] == ["e-1"]
    assert caught_up, "the lookout kept reading after the loop caught up"


def test_a_loop_that_keeps_up_leaves_alerting_to_itself(enrich_settings, pipe, reader) -> None:
    s = enrich_settings.model_copy(update={"enrich_lookout_check_ms": 100})
    pipe.send(catalogue.BOLO.name, "bolo_entry", "e-2", bolo_entry("e-2", "HIT4343"))
    pipe.flush()
    alerts = reader(ALERTS)
    with running_enrich(s) as proc:
        pipe.read(plate_read("hit-2", "cam-fast", "HIT4343", now_ms(), 0.97))
        pipe.flush()
        got = alerts.wait_for(lambda r: len(r) >= 1, timeout=10)
        alerts.settle(1.0)
        assert proc.lookout is not None and proc.lookout.alerts == 0
    assert len(got) == 1 and got[0]["event_id"] != ""
