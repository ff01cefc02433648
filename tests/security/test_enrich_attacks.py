"""Hostile watchlist entries and records against a running enrich: other cameras keep their alerts."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from platestream import topics as catalogue
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms
from tests.enrich.helpers import (
    Pipe,
    TopicReader,
    bolo_entry,
    camera_event,
    plate_read,
    running_enrich,
)

pytestmark = pytest.mark.integration

VICTIMS = [f"cam-v{i}" for i in range(8)]
WATCHED = "A" * 28  # the plate the backtracking pattern below stalls Python's re on
EVIL = "(A|AA)*(A|AA)*(A|AA)*B"  # Python's re: ~1.5 s at 24 characters, x6 per 4 more
DLQ = catalogue.dead_letter_topic("enrich").name


@pytest.fixture
def enrich_settings(settings: CommonSettings) -> Any:
    from services.enrich.settings import EnrichSettings

    return EnrichSettings(
        **{
            **settings.model_dump(),
            "enrich_gap_ms": 1000,
            "enrich_idle_close_ms": 1000,
            "enrich_metrics_port": 0,
            "enrich_poll_timeout_s": 0.02,
            "enrich_linger_ms": 1,
        }
    )


@pytest.fixture
def pipe(settings: CommonSettings) -> Iterator[Pipe]:
    p = Pipe(settings)
    p.send(catalogue.BOLO.name, "bolo_entry", "watched", bolo_entry("watched", WATCHED))
    p.flush()
    yield p
    p.producer.flush(5)


def victims_through(
    settings: CommonSettings, pipe: Pipe, attack: Callable[[], None]
) -> tuple[float, int, TopicReader]:
    """Run ``attack``, then one watched read per victim camera: (worst alert latency, victims
    with no event, dead-letter reader)."""
    alerts = TopicReader(settings, catalogue.ALERTS.name)
    events = TopicReader(settings, catalogue.PLATE_EVENTS.name)
    dlq = TopicReader(settings, DLQ)
    attack()
    sent = time.time()
    for cam in VICTIMS:
        pipe.read(plate_read(f"v-{cam}", cam, WATCHED, now_ms(), 0.95))
    pipe.flush()
    alerts.wait_for(lambda r: len(r) >= len(VICTIMS), timeout=20)
    stalled = max(alerts.arrivals) - sent
    got = events.wait_for(lambda r: len({e["camera_id"] for e in r}) >= len(VICTIMS), timeout=20)
    lost = len(set(VICTIMS) - {e["camera_id"] for e in got})
    for r in (alerts, events):
        r.close()
    return stalled, lost, dlq


def test_a_backtracking_regex_entry_cannot_stall_enrich(
    enrich_settings: Any,
    settings: CommonSettings,
    pipe: Pipe,
    record_attack: Callable[..., None],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # On the compacted topic before enrich starts (a restart would meet it again) ...
    pipe.send(catalogue.BOLO.name, "bolo_entry", "evil", bolo_entry("evil", EVIL, "regex"))
    pipe.send(catalogue.BOLO.name, "bolo_entry", "bref", bolo_entry("bref", r"(A)\1", "regex"))
    pipe.flush()
    with running_enrich(enrich_settings) as proc:
        assert set(proc.watchlists.entries) == {"watched", "evil"}

        def attack() -> None:  # ... and one more arriving while it runs
            pipe.send(
                catalogue.BOLO.name,
                "bolo_entry",
                "evil2",
                bolo_entry("evil2", EVIL[:-1] + "C", "regex"),
            )
            pipe.flush()

        stalled, lost, dlq = victims_through(settings, pipe, attack)
        dlq.close()
    assert "regex not accepted by RE2" in caplog.text  # the refused entry, with its reason
    record_attack(
        "watchlist regex (A|AA)*(A|AA)*(A|AA)*B", "enrich", stalled, lost, 0, "RE2: linear"
    )
    assert stalled < 2.0 and lost == 0


def test_an_over_long_plate_is_dead_lettered_and_others_keep_flowing(
    enrich_settings: Any,
    settings: CommonSettings,
    pipe: Pipe,
    record_attack: Callable[..., None],
) -> None:
    pipe.send(
        catalogue.BOLO.name, "bolo_entry", "fz", bolo_entry("fz", "ABC123", "fuzzy", max_distance=2)
    )
    pipe.flush()
    huge = "AB" * 50_000  # 100,000 characters: fuzzy variants of it once exhausted memory

    def attack() -> None:
        for cam in VICTIMS:  # keyed like each victim, so it is ahead of it in its partition
            pipe.read(plate_read(f"huge-{cam}", cam, huge, now_ms(), 0.95))
        ev = camera_event("huge-ev", VICTIMS[0], huge, now_ms())
        pipe.send(catalogue.CAMERA_EVENTS.name, "camera_event", VICTIMS[0], ev)
        pipe.flush()

    with running_enrich(enrich_settings):
        stalled, lost, dlq = victims_through(settings, pipe, attack)
        dead = dlq.wait_for(lambda r: len(r) >= len(VICTIMS) + 1, timeout=20)
        dlq.settle(0.5)
        dlq.close()
    assert {d["error"] for d in dead} == {"plate text of 100000 characters exceeds the limit of 64"}
    record_attack(
        "plate of 100,000 characters", "enrich", stalled, lost, len(dead), "dead-lettered"
    )
    assert stalled < 2.0 and lost == 0 and len(dead) == len(VICTIMS) + 1


def test_a_camera_id_of_dot_dot_is_dead_lettered(
    enrich_settings: Any,
    settings: CommonSettings,
    pipe: Pipe,
    record_attack: Callable[..., None],
) -> None:
    def attack() -> None:
        pipe.read(plate_read("dots", "..", WATCHED, now_ms(), 0.95))
        pipe.flush()

    with running_enrich(enrich_settings):
        stalled, lost, dlq = victims_through(settings, pipe, attack)
        dead = dlq.wait_for(lambda r: len(r) >= 1, timeout=20)
        dlq.settle(0.5)
        dlq.close()
    assert len(dead) == 1 and "camera id '..'" in dead[0]["error"]
    record_attack(
        "camera id '..' on a plate read", "enrich", stalled, lost, len(dead), "dead-lettered"
    )
    assert stalled < 2.0 and lost == 0
