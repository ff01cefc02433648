"""The columns a search reads and how a row becomes an event in the API's answer.

A page read by camera and time reads ``plate_events`` (`COLUMNS`); a page read by plate reads the
event index, whose ``result`` column (migration 012) holds every field no search filters on as one
JSON array (`RESULT_COLUMN`, in the SQL's order), so a page gathered from many plates' key ranges
reads six columns instead of twenty-four.
"""

from __future__ import annotations

import json
from typing import Any

COLUMNS = (
    "event_id, version, camera_id, camera_name, site, zone, plate, confidence, "
    "toUnixTimestamp64Milli(ts) AS ts_ms, direction, vehicle_type, vehicle_color, vehicle_make, vehicle_model, "
    "lane, read_count, watchlist_hits, access_status, best_crop_key, correction_id, source, lat, lon"
)
RESULT_FIELDS = (
    "event_id",
    "version",
    "camera_id",
    "camera_name",
    "site",
    "zone",
    "plate",
    "confidence",
    "ts",
    "direction",
    "vehicle_type",
    "vehicle_color",
    "vehicle_make",
    "vehicle_model",
    "lane",
    "read_count",
    "watchlist_hits",
    "access_status",
    "best_crop_key",
    "correction_id",
    "source",
    "lat",
    "lon",
)
# The index's ``result`` column (migration 012): every result field but the index's own columns,
# as one JSON array in this order (the migration's tuple lists them in the same order), so a page
# read from many plates' key ranges reads a few columns instead of every field.
INDEX_OWN = ("event_id", "version", "plate", "confidence", "ts")
RESULT_COLUMN = tuple(f for f in RESULT_FIELDS if f not in INDEX_OWN)
INDEX_COLUMNS = "event_id, version, plate, confidence, toUnixTimestamp64Milli(ts) AS ts_ms, result"


def row_to_event(row: dict[str, Any]) -> dict[str, Any]:
    if "result" in row:  # a row of the event index
        row = {**row, **dict(zip(RESULT_COLUMN, json.loads(row["result"]), strict=True))}
    out = {k: row.get(k) for k in RESULT_FIELDS if k != "ts"}
    out["ts"] = int(row["ts_ms"])
    out["confidence"] = round(float(row["confidence"]), 4)
    out["watchlist_hits"] = list(row.get("watchlist_hits") or [])
    if "score" in row:
        out["distance"] = int(row["score"]) / 10
    return out
