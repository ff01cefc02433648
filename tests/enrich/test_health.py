"""Camera health: state transitions and counts (unit), and the faust worker publishing
offline/online statuses and gauges (stack)."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from platestream import topics as catalogue
from platestream.stack.ports import free_port
from platestream.timeutil import now_ms
from services.enrich.health import (
    count_states,
    go_offline,
    new_state,
    observe,
    overdue,
    status_record,
)

from .helpers import Pipe, TopicReader, stage_process


def test_transitions_and_rate() -> None:
    s = new_state("cam", 60)
    assert observe(s, {"kind": "config", "offline_after_s": 10}, now=1_000) is None
    assert (s["offline_after_s"], s["last_seen"], s["state"]) == (10, 1_000, "unknown")
    assert observe(s, {"kind": "event", "ts": 2_000}, now=2_100) == "online"
    for i in range(1, 31):
        assert observe(s, {"kind": "event", "ts": 2_000 + i * 2_000}, now=2_000 + i * 2_000) is None
    # 30 events in the first minute window (2 s apart); the rate is known once the next one starts
    assert s["events_per_min"] == 30.0
    assert not overdue(s, now=s["last_seen"] + 10_000)
    assert overdue(s, now=s["last_seen"] + 10_001)
    assert go_offline(s, now=s["last_seen"] + 10_001) and s["state"] == "offline"
    assert not go_offline(s, now=s["last_seen"] + 20_000)  # already offline: one status only
    assert (
        observe(
            s,
            {"kind": "status", "ts": 100_000, "state": "error", "reason": "auth failed"},
            now=100_000,
        )
        is None
    )
    assert s["last_error"] == "auth failed" and s["state"] == "offline"
    assert (
        observe(s, {"kind": "status", "ts": 100_500, "state": "heartbeat"}, now=100_600) == "online"
    )
    rec = status_record(s, 100_600, "activity resumed")
    assert (rec["state"], rec["source"], rec["details"]["last_error"]) == (
        "online",
        "health",
        "auth failed",
    )


def test_old_activity_does_not_bring_a_camera_online() -> None:
    s = new_state("cam", 10)
    assert observe(s, {"kind": "event", "ts": 0}, now=3_600_000) is None  # replayed history
    assert s["state"] == "unknown"


def test_count_states_counts_online_and_offline_in_owned_partitions() -> None:
    def cam(state: str, partition: int | None) -> dict:
        s = new_state(f"cam-{state}-{partition}", 60)
        s["state"], s["partition"] = state, partition
        return s

    states = [
        cam("online", 0),
        cam("online", 1),
        cam("offline", 0),
        cam("offline", 2),
        cam("offline", None),  # partition not recorded: counted wherever it is held
        cam("unknown", 0),  # never heard from yet: neither
        None,
    ]
    assert count_states(states) == (2, 3)
    assert count_states(states, {0}) == (1, 2)  # partitions 1 and 2 are another worker's
    assert count_states(states, {1, 2}) == (1, 2)
    assert count_states(states, set()) == (0, 1)
    assert count_states([]) == (0, 0)


def _wait_for_gauges(url: str, want: dict[str, float], timeout: float = 15.0) -> None:
    """Scrape ``url`` until the gauges named in ``want`` have those values."""
    deadline = time.monotonic() + timeout
    have: dict[str, float] = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                text = resp.read().decode()
        except (urllib.error.URLError, OSError):
            text = ""  # not listening yet
        have = {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name in want
        }
        if have == want:
            return
        time.sleep(0.2)
    raise AssertionError(f"{url}: gauges {have}, want {want}")


@pytest.mark.integration
def test_quiet_camera_goes_offline_and_comes_back(settings, tmp_path) -> None:
    pipe = Pipe(settings)
    pipe.send(
        catalogue.CAMERAS.name,
        "camera",
        "cam-h",
        {"camera_id": "cam-h", "offline_after_s": 2, "updated_at": now_ms()},
    )
    pipe.send(
        catalogue.CAMERA_EVENTS.name,
        "camera_event",
        "cam-h",
        {
            "event_id": "h1",
            "source": "generic",
            "camera_id": "cam-h",
            "ts": now_ms(),
            "received_at": now_ms(),
        },
    )
    pipe.flush()
    metrics_port = free_port()
    env = {
        **os.environ,
        "PLATESTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PLATESTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "PLATESTREAM_HEALTH_CHECK_INTERVAL_S": "0.5",
        "PLATESTREAM_HEALTH_WEB_PORT": "0",
        "PLATESTREAM_HEALTH_METRICS_PORT": str(metrics_port),
        "PLATESTREAM_LOG_LEVEL": "WARNING",
    }
    statuses = TopicReader(settings, catalogue.CAMERA_STATUS.name)

    def ours(r: list[dict]) -> list[dict]:
        return [x for x in r if x["source"] == "health" and x["camera_id"] == "cam-h"]

    try:
        with stage_process("health", env, tmp_path / "health.log"):
            statuses.wait_for(
                lambda r: [x["state"] for x in ours(r)][:2] == ["online", "offline"], timeout=60
            )
            metrics = f"http://127.0.0.1:{metrics_port}/metrics"
            _wait_for_gauges(
                metrics,
                {"platestream_health_cameras_offline": 1, "platestream_health_cameras_online": 0},
            )
            pipe.send(
                catalogue.CAMERA_STATUS.name,
                "camera_status",
                "cam-h",
                {"camera_id": "cam-h", "ts": now_ms(), "state": "heartbeat", "source": "connector"},
            )
            pipe.flush()
            got = statuses.wait_for(lambda r: len(ours(r)) >= 3, timeout=20)
            _wait_for_gauges(
                metrics,
                {"platestream_health_cameras_offline": 0, "platestream_health_cameras_online": 1},
            )
    finally:
        statuses.close()
    states = ours(got)
    assert [x["state"] for x in states[:3]] == ["online", "offline", "online"]
    offline = states[1]
    assert "offline after 2 s" in offline["reason"]
    assert offline["last_event_ts"] is not None
    # offline only once quiet for more than 2 s, counted from the later of the event and the moment
    # health learned the camera's configuration; checked every 0.5 s (later on a busy machine)
    quiet = offline["ts"] - offline["last_event_ts"]
    assert 2_000 < quiet <= 30_000, quiet
    assert int(offline["reason"].split("no events for ")[1].split(" s")[0]) >= 2
