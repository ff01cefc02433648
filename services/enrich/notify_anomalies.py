"""Anomalies (anpr.anomalies.v1: clone, misread, overstay) as notify messages.

An anomaly keeps its own payload (the PlateAnomaly record, never dressed up as a watchlist alert)
with a ``type`` of ``anomaly.<kind>`` added, so one receiver can take both. It goes to the routes
whose ``kinds`` name its kind; a route's ``lists`` and ``min_priority`` filter watchlist alerts
only (anomalies have neither). The notifier sends it like an alert, with the anomaly id where an
alert has its alert id (``webhook-id``, ``X-Platestream-Alert-Id``, the delivery records' and the
dedup table's ids), so receivers dedupe redeliveries the same way.
"""

from __future__ import annotations

from typing import Any

from platestream.limits import MAX_PLATE_CHARS

KINDS = ("clone", "misread", "overstay")
MAX_ID_CHARS = 128


class BadAnomaly(ValueError):
    """A record of the anomalies topic notify cannot deliver (it is dead-lettered)."""


def check_anomaly(record: dict[str, Any]) -> dict[str, Any]:
    """The record if it is an anomaly notify can deliver; raises BadAnomaly with the reason."""
    anomaly_id, kind, plate = record.get("anomaly_id"), record.get("kind"), record.get("plate")
    if not isinstance(anomaly_id, str) or not 0 < len(anomaly_id) <= MAX_ID_CHARS:
        raise BadAnomaly("not a plate anomaly: no usable anomaly_id")
    if kind not in KINDS:
        raise BadAnomaly(f"anomaly {anomaly_id}: unknown kind {str(kind)[:32]!r}")
    if not isinstance(plate, str) or not 0 < len(plate) <= MAX_PLATE_CHARS:
        raise BadAnomaly(f"anomaly {anomaly_id}: plate missing or too long")
    return record


def message(record: dict[str, Any]) -> dict[str, Any]:
    """The payload sent for an anomaly: the record with ``type`` = ``anomaly.<kind>``."""
    return {"type": f"anomaly.{record['kind']}", **record}


def anomaly_targets(record: dict[str, Any], routes: list[Any]) -> list[Any]:
    """Routes that take anomalies of this kind, one per channel and target."""
    out: dict[tuple[str, str], Any] = {}
    for r in routes:
        if record["kind"] in r.kinds:
            out.setdefault((r.channel, r.target), r)
    return list(out.values())


def email_subject(msg: dict[str, Any]) -> str:
    second = msg.get("second") or {}
    where = second.get("site") or msg.get("camera_id")
    return f"[platestream] {msg.get('kind')} of plate {msg.get('plate')} at {where}"


def email_lines(msg: dict[str, Any]) -> list[str]:
    lines = [
        f"{k}: {msg.get(k)}"
        for k in ("type", "plate", "reason", "camera_id", "ts", "anomaly_id")
        if msg.get(k) is not None
    ]
    for side in ("first", "second"):
        s = msg.get(side) or {}
        lines.append(
            f"{side}: {s.get('plate')} at {s.get('camera_id')} ({s.get('site')}) ts {s.get('ts')}"
            f" event {s.get('event_id')}"
        )
    return lines
