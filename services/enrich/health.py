"""Camera health: per-camera liveness state, event rate and offline detection (pure logic).

A camera is alive while signs of life keep coming: plate events, device events, and connector
heartbeats/online statuses on ``anpr.camera-status.v1``. Times are the records' ingest times
(``received_at``, else their own time), our clock rather than the device's. A camera whose last
sign of life is older than its ``offline_after_s`` (from ``anpr.cameras.v1``, else the default)
goes offline; the next sign of life brings it back online. Each transition is published as a
``CameraStatus`` with ``source=health``; statuses with that source are ignored on input.
``count_states`` gives the online/offline figures the stage exports as Prometheus gauges.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from typing import Any

RATE_WINDOW_MS = 60_000


def new_state(camera_id: str, offline_after_s: int) -> dict[str, Any]:
    return {
        "camera_id": camera_id,
        "state": "unknown",
        "last_seen": None,
        "last_event_ts": None,
        "window_start": None,
        "window_count": 0,
        "events_per_min": None,
        "last_error": None,
        "offline_after_s": offline_after_s,
        "configured": False,
        "partition": None,  # the table partition holding it (set by the owning agent)
    }


def observe(state: dict[str, Any], update: dict[str, Any], now: int) -> str | None:
    """Apply one update; returns "online" when the camera comes (back) online, else None.

    update: {"kind": "event" | "status" | "config" | "check", "ts": int, "state": str,
             "reason": str, "offline_after_s": int}
    """
    kind = update["kind"]
    if kind == "config":
        state["offline_after_s"] = int(update.get("offline_after_s") or state["offline_after_s"])
        state["configured"] = True
        if state["last_seen"] is None:
            state["last_seen"] = now  # a configured camera that never spoke: count from now
        return None
    if kind == "check":
        return None
    ts = int(update["ts"])
    if kind == "status":
        if update.get("state") == "error":
            state["last_error"] = update.get("reason") or "error"
            return None
        if update.get("state") not in ("online", "heartbeat"):
            return None
    else:
        state["last_event_ts"] = max(ts, state["last_event_ts"] or ts)
        start = state["window_start"]
        if start is None or ts - start >= RATE_WINDOW_MS:
            if start is not None:
                elapsed = max(ts - start, RATE_WINDOW_MS)
                state["events_per_min"] = round(state["window_count"] * 60_000 / elapsed, 2)
            state["window_start"] = ts
            state["window_count"] = 0
        state["window_count"] += 1
    if state["last_seen"] is None or ts > state["last_seen"]:
        state["last_seen"] = ts
    if state["state"] != "online" and now - state["last_seen"] <= state["offline_after_s"] * 1000:
        state["state"] = "online"
        return "online"
    return None


def overdue(state: dict[str, Any], now: int) -> bool:
    """True when an online (or never-heard-from) camera has been quiet too long."""
    if state["state"] == "offline" or state["last_seen"] is None:
        return False
    return now - state["last_seen"] > state["offline_after_s"] * 1000


def go_offline(state: dict[str, Any], now: int) -> bool:
    if not overdue(state, now):
        return False
    state["state"] = "offline"
    return True


def count_states(
    states: Iterable[dict[str, Any] | None], partitions: Container[int] | None = None
) -> tuple[int, int]:
    """(online, offline): how many of these camera states are online and offline now.

    With ``partitions``, only states held in those partitions count (a worker's active ones, so
    the standby copies it keeps of other workers' partitions are not counted twice); a state
    whose partition is not recorded counts.
    """
    online = offline = 0
    for state in states:
        if state is None:
            continue
        held_in = state.get("partition")
        if partitions is not None and held_in is not None and held_in not in partitions:
            continue
        if state["state"] == "online":
            online += 1
        elif state["state"] == "offline":
            offline += 1
    return online, offline


def status_record(state: dict[str, Any], now: int, reason: str) -> dict[str, Any]:
    return {
        "camera_id": state["camera_id"],
        "ts": now,
        "state": state["state"],
        "source": "health",
        "reason": reason,
        "fps": None,
        "events_per_min": state["events_per_min"],
        "last_event_ts": state["last_event_ts"],
        "details": {
            "offline_after_s": str(state["offline_after_s"]),
            **({"last_error": state["last_error"]} if state["last_error"] else {}),
        },
    }
