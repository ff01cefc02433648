"""The enrich stage on the real local stack: passages, parked cars, alerts, restarts, corrections."""

from __future__ import annotations

import time

import pytest

from platestream import topics as catalogue
from platestream.ids import stable_id
from platestream.timeutil import now_ms
from services.enrich.alerts import early_alert_id

from .helpers import bolo_entry, camera_event, plate_read, running_enrich

pytestmark = pytest.mark.integration

EVENTS = catalogue.PLATE_EVENTS.name
ALERTS = catalogue.ALERTS.name


def test_noisy_burst_of_three_vehicles_gives_three_events(enrich_settings, pipe, reader) -> None:
    t0 = now_ms() - 60_000
    noisy = {
        "ABC1234": ["ABC1234", "A8C1234", "ABC1234", "ABC1Z34", "ABC123", "ABC1234"],
        "XYZ9876": ["XYZ9876", "XYZ9B76", "XY29876", "XYZ9876"],
        "KLM4321": ["KLM4321", "KLM432I", "KLN4321", "KLM4321", "KLM4321"],
    }
    # vehicles one after another, the second and third overlapping in time
    starts = {"ABC1234": 0, "XYZ9876": 5000, "KLM4321": 5400}
    recs = []
    for plate, variants in noisy.items():
        for i, v in enumerate(variants):
            ts = t0 + starts[plate] + i * 150
            recs.append((ts, plate_read(f"{plate}-{i}", "cam-a", v, ts, 0.6 + 0.05 * (v == plate))))
    recs.sort(key=lambda x: x[0])
    with running_enrich(enrich_settings) as proc:
        for _, rec in recs:
            pipe.read(rec)
        # a device read of the same camera model, a no-read device event, and garbage
        pipe.send(
            catalogue.CAMERA_EVENTS.name,
            "camera_event",
            "cam-b",
            camera_event("dev-1", "cam-b", "DEV0001", t0 + 20_000),
        )
        pipe.send(
            catalogue.CAMERA_EVENTS.name,
            "camera_event",
            "cam-b",
            camera_event("dev-2", "cam-b", None, t0 + 20_100, conf=None),
        )
        pipe.send(catalogue.PLATE_READS.name, None, "cam-a", b"not avro at all")
        pipe.flush()
        events = reader(EVENTS).wait_for(lambda r: len(r) >= 4)
        dlq = reader(catalogue.dead_letter_topic("enrich").name).wait_for(lambda r: len(r) >= 1)
        reader(EVENTS).settle(2.0)
        assert proc.stats.skipped == 1
    by_cam = {}
    for e in events:
        by_cam.setdefault(e["camera_id"], []).append(e)
    assert sorted(e["plate"] for e in by_cam["cam-a"]) == ["ABC1234", "KLM4321", "XYZ9876"]
    assert len(events) == 4
    abc = next(e for e in by_cam["cam-a"] if e["plate"] == "ABC1234")
    assert abc["read_count"] == 6
    assert abc["event_id"] == stable_id("cam-a", 1, "ABC1234-0")
    assert set(abc["variants"]) == {"ABC1234", "A8C1234", "ABC1Z34", "ABC123"}
    assert abc["first_seen"] == t0 and abc["last_seen"] == t0 + 750
    assert abc["access_status"] == "unknown" and abc["version"] == 0
    assert by_cam["cam-b"][0]["plate"] == "DEV0001" and by_cam["cam-b"][0]["source"] == "hikvision"
    assert dlq[0]["value"] == b"not avro at all" and dlq[0]["stage"] == "enrich"


def test_parked_vehicle_gives_one_event(enrich_settings, pipe, reader, settings) -> None:
    s = enrich_settings.model_copy(
        update={"enrich_max_passage_ms": 2000, "enrich_holdoff_ms": 30_000}
    )
    t0 = now_ms() - 60_000
    with running_enrich(s) as proc:
        n = 0
        for _chunk in range(4):  # 8 s of a parked car read every 250 ms, delivered in 4 chunks
            for _ in range(8):
                ts = t0 + n * 250
                pipe.read(plate_read(f"p-{n}", "cam-p", "PRK1234" if n % 4 else "PRK12B4", ts))
                n += 1
            pipe.flush()
            deadline = time.monotonic() + 10
            while proc.stats.reads < n and time.monotonic() < deadline:
                time.sleep(0.02)
        events = reader(EVENTS).wait_for(lambda r: len(r) >= 1)
        reader(EVENTS).settle(3.0)  # idle close and more: still one
        assert proc.stats.absorbed >= 8
    assert len(events) == 1
    assert events[0]["plate"] == "PRK1234"


def test_watchlist_hit_alerts_within_one_second(enrich_settings, pipe, reader) -> None:
    pipe.send(catalogue.BOLO.name, "bolo_entry", "e-stolen", bolo_entry("e-stolen", "BAD1234"))
    pipe.send(
        catalogue.CAMERAS.name,
        "camera",
        "cam-w",
        {
            "camera_id": "cam-w",
            "name": "Gate west",
            "site": "HQ",
            "zone": "north",
            "updated_at": now_ms(),
        },
    )
    pipe.flush()
    alerts = reader(ALERTS)
    with running_enrich(enrich_settings) as proc:
        assert len(proc.watchlists) == 1
        # an entry added while running is followed too
        pipe.send(
            catalogue.BOLO.name,
            "bolo_entry",
            "e-fuzzy",
            bolo_entry("e-fuzzy", "WANT99", "fuzzy", max_distance=1),
        )
        pipe.flush()
        deadline = time.monotonic() + 10
        while len(proc.watchlists) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        alerts.poll()
        sent = time.time()
        pipe.read(plate_read("w-0", "cam-w", "BAD1234", now_ms(), 0.95))
        pipe.flush()
        got = alerts.wait_for(lambda r: len(r) >= 1, timeout=5)
        latency = alerts.arrivals[0] - sent
        pipe.read(
            plate_read("w-1", "cam-w", "BAD1234", now_ms(), 0.97)
        )  # same passage: no new alert
        pipe.read(
            plate_read("w-2", "cam-w", "WANT98", now_ms() + 1, 0.5)
        )  # low confidence: alert at close
        pipe.flush()
        events = reader(EVENTS).wait_for(lambda r: len(r) >= 2)
        got = alerts.wait_for(lambda r: len(r) >= 2)
        alerts.settle(1.0)
    assert latency < 1.0, f"alert took {latency:.3f} s"
    first = got[0]
    bad_event = next(e for e in events if e["plate"] == "BAD1234")
    assert first["early"] is True and first["entry_id"] == "e-stolen"
    assert first["event_id"] == bad_event["event_id"]
    # keyed by the read that hit, as the lookout keys it: one id whoever raises it
    assert first["alert_id"] == early_alert_id("e-stolen", "w-0")
    assert first["site"] == "HQ" and first["camera_name"] == "Gate west"
    assert bad_event["access_status"] == "watchlisted" and bad_event["watchlist_hits"] == [
        "e-stolen"
    ]
    assert bad_event["site"] == "HQ" and bad_event["zone"] == "north"
    assert len(got) == 2
    late = got[1]
    assert late["entry_id"] == "e-fuzzy" and late["early"] is False and late["plate"] == "WANT98"


def test_expired_or_deleted_entry_gives_no_alert(enrich_settings, pipe, reader) -> None:
    now = now_ms()
    pipe.send(
        catalogue.BOLO.name,
        "bolo_entry",
        "e-exp",
        bolo_entry("e-exp", "OLD1111", valid_until=now - 60_000),
    )
    pipe.send(catalogue.BOLO.name, "bolo_entry", "e-del", bolo_entry("e-del", "DEL2222"))
    pipe.send(catalogue.BOLO.name, None, "e-del", None)  # tombstone
    pipe.send(
        catalogue.BOLO.name,
        "bolo_entry",
        "a-staff",
        bolo_entry("a-staff", "STF3333", list_kind="allow"),
    )
    pipe.flush()
    with running_enrich(enrich_settings) as proc:
        assert sorted(proc.watchlists.entries) == ["a-staff", "e-exp"]
        for i, plate in enumerate(["OLD1111", "DEL2222", "STF3333"]):
            pipe.read(plate_read(f"x-{i}", f"cam-{i}", plate, now_ms(), 0.99))
        pipe.flush()
        events = reader(EVENTS).wait_for(lambda r: len(r) >= 3)
        alerts = reader(ALERTS).settle(1.0)
    assert alerts == []
    status = {e["plate"]: e["access_status"] for e in events}
    assert status == {"OLD1111": "unknown", "DEL2222": "unknown", "STF3333": "allowed"}


def test_restart_mid_passage_loses_nothing(enrich_settings, pipe, reader) -> None:
    s = enrich_settings.model_copy(update={"enrich_gap_ms": 60_000, "enrich_idle_close_ms": 60_000})
    t0 = now_ms() - 30_000
    with running_enrich(s) as proc:
        for i in range(5):
            pipe.read(
                plate_read(f"r-{i}", "cam-r", "RST1234" if i != 2 else "R5T1234", t0 + i * 100)
            )
        pipe.flush()
        deadline = time.monotonic() + 10
        while proc.stats.reads < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.stats.events == 0
        first_offset = next(iter(proc.tracker.passages())).first_read.offset
        tp = next(iter(proc.tracker.min_open_offsets()))
    # the processor stopped with the passage open: its offset stayed at the passage's first read
    assert proc.offsets.committed.get(tp) in (None, first_offset)
    for i in range(5, 10):
        pipe.read(plate_read(f"r-{i}", "cam-r", "RST1234", t0 + i * 100))
    pipe.flush()
    s2 = s.model_copy(update={"enrich_gap_ms": 1000, "enrich_idle_close_ms": 1000})
    with running_enrich(s2):
        events = reader(EVENTS).wait_for(lambda r: len(r) >= 1)
        reader(EVENTS).settle(1.5)
    assert len(events) == 1
    assert events[0]["read_count"] == 10
    assert events[0]["event_id"] == stable_id("cam-r", 1, "r-0")
    assert events[0]["plate"] == "RST1234"


def test_correction_emits_next_version(enrich_settings, pipe, reader) -> None:
    pipe.send(catalogue.BOLO.name, "bolo_entry", "e-c", bolo_entry("e-c", "COR9999"))
    pipe.flush()
    ev_reader = reader(EVENTS)
    with running_enrich(enrich_settings):
        pipe.read(plate_read("c-0", "cam-c", "C0R9990", now_ms(), 0.7))
        pipe.flush()
        events = ev_reader.wait_for(lambda r: len(r) >= 1)
        eid = events[0]["event_id"]
        pipe.send(
            catalogue.CORRECTIONS.name,
            "correction",
            eid,
            {
                "correction_id": "k1",
                "event_id": eid,
                "action": "correct",
                "plate": "COR-9999",
                "previous_plate": "C0R9990",
                "user": "op",
                "ts": now_ms(),
            },
        )
        pipe.send(
            catalogue.CORRECTIONS.name,
            "correction",
            "nope",
            {
                "correction_id": "k2",
                "event_id": "nope",
                "action": "correct",
                "plate": "X",
                "user": "op",
                "ts": now_ms(),
            },
        )
        pipe.flush()
        events = ev_reader.wait_for(lambda r: len(r) >= 2)
        alerts = reader(ALERTS).wait_for(lambda r: len(r) >= 1)
        dlq = reader(catalogue.dead_letter_topic("enrich").name).wait_for(lambda r: len(r) >= 1)
    v1 = events[1]
    assert (v1["event_id"], v1["version"], v1["plate"], v1["correction_id"]) == (
        eid,
        1,
        "COR9999",
        "k1",
    )
    assert v1["access_status"] == "watchlisted" and alerts[0]["entry_id"] == "e-c"
    assert "not among the" in dlq[0]["error"]
    # after a restart the cache is empty: the correction says where the latest version lies
    part, off = ev_reader.positions[1]
    with running_enrich(enrich_settings):
        pipe.send(
            catalogue.CORRECTIONS.name,
            "correction",
            eid,
            {
                "correction_id": "k3",
                "event_id": eid,
                "action": "confirm",
                "user": "op",
                "ts": now_ms(),
                "event_partition": part,
                "event_offset": off,
            },
        )
        pipe.flush()
        events = ev_reader.wait_for(lambda r: len(r) >= 3)
    v2 = events[2]
    assert (v2["event_id"], v2["version"], v2["plate"], v2["correction_id"]) == (
        eid,
        2,
        "COR9999",
        "k3",
    )
    assert v2["site"] == v1["site"] and v2["read_ids"] == v1["read_ids"]
