"""Overstays as anomaly events (kind ``overstay``) on anpr.anomalies.v1, for notify to deliver.

The dwell query (services/api/investigations.py) finds the stays longer than a limit; this turns
each into a PlateAnomaly: ``first`` is the entry passage, ``second`` the exit (or the entry again
while the vehicle is still inside, ``exit_ts`` null), ``seconds_apart`` the stay so far,
``limit_s`` the limit. The id is stable_id("overstay", site, plate, entry time) and the record
time is the moment the stay passed the limit (entry + limit), so every run that sees the same stay
writes the same id with the same time: the sink collapses the copies, notify delivers it once per
route (its table of delivered ids), and a stay that later closes updates the stored row.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from platestream.ids import stable_id

PASSAGES_SQL = (
    "SELECT event_id, camera_id, plate, toUnixTimestamp64Milli(ts) AS t, confidence,"
    " ifNull(toString(site), '') AS site_key, site, lat, lon, variants,"
    " translate(plate, {fold_from:String}, {fold_to:String}) AS folded"
    " FROM plate_events FINAL"
    " WHERE ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')"
    " AND ts <= fromUnixTimestamp64Milli({until:Int64}, 'UTC')"
    " AND direction IN ('approaching', 'leaving')"
    " AND has({folded:Array(String)}, folded) AND has({sites:Array(String)}, site_key)"
)


def overstay_id(site: str, plate: str, entry_ms: int) -> str:
    return stable_id("overstay", site, plate, entry_ms)


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def _sighting(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "event_id": str(row["event_id"]),
        "camera_id": str(row["camera_id"]),
        "plate": str(row["plate"]),
        "ts": int(row["t"]),
        "confidence": float(row["confidence"]),
        "site": row["site"],
        # a camera without coordinates: 0.0, as the record requires a number
        "lat": float(row["lat"]) if row["lat"] is not None else 0.0,
        "lon": float(row["lon"]) if row["lon"] is not None else 0.0,
        "variants": [str(v) for v in (row["variants"] or [])][:16],
    }


def passages(client: Any, stays: Sequence[dict[str, Any]]) -> dict[tuple[str, str, int], Any]:
    """(folded plate, site, time) -> the plate event of each stay's entry and exit, one query."""
    from services.api.investigations import FOLD_FROM, FOLD_TO

    if not stays:
        return {}
    table = str.maketrans(FOLD_FROM, FOLD_TO)
    times = [int(s["entry_ms"]) for s in stays] + [
        int(s["exit_ms"]) for s in stays if s["exit_ms"] is not None
    ]
    params = {
        "fold_from": FOLD_FROM,
        "fold_to": FOLD_TO,
        "since": min(times),
        "until": max(times),
        "folded": sorted({str(s["plate"]).translate(table) for s in stays}),
        "sites": sorted({str(s["site"]) for s in stays}),
    }
    out: dict[tuple[str, str, int], Any] = {}
    for r in client.query(PASSAGES_SQL, parameters=params).named_results():
        out.setdefault((r["folded"], r["site_key"], int(r["t"])), dict(r))
    return out


def overstay_records(
    client: Any, stays: Sequence[dict[str, Any]], *, limit_s: float, emitted_at: int
) -> list[dict[str, Any]]:
    """The anomaly records of the overstay rows (plate, site, entry_ms, exit_ms, seconds)."""
    from services.api.investigations import FOLD_FROM, FOLD_TO

    table = str.maketrans(FOLD_FROM, FOLD_TO)
    found = passages(client, stays)
    out = []
    for s in stays:
        plate, site, entry_ms = str(s["plate"]), str(s["site"]), int(s["entry_ms"])
        folded = plate.translate(table)
        entry = found.get((folded, site, entry_ms))
        if entry is None:  # the passage was corrected or expired between the two queries
            continue
        exit_row = (
            found.get((folded, site, int(s["exit_ms"]))) if s["exit_ms"] is not None else None
        )
        first = _sighting(entry)
        second = _sighting(exit_row) if exit_row is not None else first
        seconds = float(s["seconds"])
        where = site or first["camera_id"]
        state = "left" if exit_row is not None else "still inside"
        out.append(
            {
                "anomaly_id": overstay_id(site, plate, entry_ms),
                "kind": "overstay",
                "plate": plate,
                "camera_id": first["camera_id"],
                "ts": entry_ms + round(limit_s * 1000),
                "distance_km": 0.0,
                "seconds_apart": seconds,
                "speed_kmh": None,
                "limit_kmh": 0.0,
                "min_travel_s": None,
                "reason": f"{_hours(seconds)} at {where} over the limit of {_hours(limit_s)}"
                f" ({state})",
                "first": first,
                "second": second,
                "event_logged_at": None,
                "emitted_at": emitted_at,
                "limit_s": float(limit_s),
                "exit_ts": second["ts"] if exit_row is not None else None,
            }
        )
    return out


def emit(settings: Any, records: Sequence[dict[str, Any]], *, timeout_s: float = 30.0) -> int:
    """Produce the records to anpr.anomalies.v1 keyed by the entry camera; returns how many the
    broker acknowledged (raises PlatestreamError if any was not)."""
    from platestream import topics as catalogue
    from platestream.errors import PlatestreamError
    from platestream.kafka import make_producer
    from platestream.serde import AvroSerde

    topic = settings.topic(catalogue.ANOMALIES.name)
    serde = AvroSerde(settings=settings)
    producer = make_producer(settings)
    failed: list[str] = []

    def done(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    for rec in records:
        value = serde.encode("plate_anomaly", rec, subject=f"{topic}-value")
        producer.produce(topic, key=rec["camera_id"].encode(), value=value, on_delivery=done)
        producer.poll(0)
    left = producer.flush(timeout_s)
    if failed or left:
        raise PlatestreamError(
            f"overstays: {len(failed) + left} of {len(records)} not written to {topic}:"
            f" {failed[:3]}"
        )
    return len(records)
