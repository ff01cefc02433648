"""Record -> row mappers: decoded Avro records become column lists for a columnar insert.

One ``TableMap`` per projected topic. ``validate`` rejects a record ClickHouse would refuse or
that would poison a table (a time outside any sane partition, a negative unsigned value), so the
bad record goes to the dead-letter topic alone instead of failing a whole batch. ``columns``
builds every column with one list comprehension over the batch: no per-row dicts, no datetime
objects (DateTime64(3) columns take epoch milliseconds as they are).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from platestream import topics as catalogue
from platestream.errors import BadInputError
from platestream.limits import (
    MAX_PLATE_CHARS,
    MAX_PLATE_RAW_CHARS,
    check_camera_id,
    valid_camera_id,
)
from services.sink.imagekeys import image_slots

MIN_TS_MS = 946_684_800_000  # 2000-01-01
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01
UINT32_MAX = 2**32 - 1


class Source(NamedTuple):
    """Where a record came from: the event index kept on every row."""

    topic: str
    partition: int
    offset: int


Columns = dict[str, list[Any]]
Builder = Callable[[Sequence[dict[str, Any]]], Columns]


@dataclass(frozen=True)
class TableMap:
    table: str
    topic: catalogue.Topic
    schema: str
    id_field: str  # the record's own id (what ReplacingMergeTree collapses on, with the sort key)
    build: Builder
    checks: tuple[tuple[str, int, int], ...] = ()  # (field, min, max) for non-null int fields

    def validate(self, rec: dict[str, Any]) -> None:
        ts = rec.get("ts")
        if not isinstance(ts, int) or not MIN_TS_MS <= ts < MAX_TS_MS:
            raise BadInputError(f"{self.schema}.ts {ts!r} outside 2000..2100")
        for name, lo, hi in self.checks:
            value = rec.get(name)
            if value is not None and not lo <= value <= hi:
                raise BadInputError(f"{self.schema}.{name} {value!r} outside {lo}..{hi}")
        # Text every stage bounds (platestream/limits.py); an id that is not one would also
        # make an object key the S3 projection cannot write.
        camera_id = rec.get("camera_id")
        if camera_id is not None and not valid_camera_id(camera_id):
            check_camera_id(camera_id, what=f"{self.schema}.camera_id")
        for name, cap in (("plate", MAX_PLATE_CHARS), ("plate_raw", MAX_PLATE_RAW_CHARS)):
            text = rec.get(name)
            if text is not None and len(text) > cap:
                raise BadInputError(f"{self.schema}.{name} of {len(text)} characters exceeds {cap}")
        if rec.get("images") or rec.get("crop"):
            # The keys ``columns`` stores: one no store could take fails this record, not the batch.
            image_slots(self.schema, rec)

    def columns(self, recs: Sequence[dict[str, Any]], sources: Sequence[Source]) -> Columns:
        cols = self.build(recs)
        cols["topic"] = [s.topic for s in sources]
        cols["partition"] = [s.partition for s in sources]
        cols["offset"] = [s.offset for s in sources]
        return cols


def _plain(names: Sequence[str]) -> Callable[[Sequence[dict[str, Any]]], Columns]:
    getter = itemgetter(*names)

    def build(recs: Sequence[dict[str, Any]]) -> Columns:
        # Decoded Avro records carry every field: one C-level pass picks them and transposes.
        try:
            picked = list(map(getter, recs))
        except KeyError:  # a hand-built record missing optional fields
            picked = [tuple(r.get(n) for n in names) for r in recs]
        return dict(zip(names, map(list, zip(*picked, strict=True)), strict=True))

    return build


def _box(box: dict[str, Any] | None) -> list[int]:
    return [box["x"], box["y"], box["w"], box["h"]] if box else []


def _keys(schema: str, recs: Sequence[dict[str, Any]]) -> tuple[list[list[str]], list[list[str]]]:
    keys: list[list[str]] = []
    kinds: list[list[str]] = []
    for r in recs:
        slots = image_slots(schema, r) if (r.get("images") or r.get("crop")) else []
        keys.append([s.key for s in slots])
        kinds.append([s.kind for s in slots])
    return keys, kinds


PLATE_EVENT_PLAIN = (
    "event_id",
    "camera_id",
    "ts",
    "plate",
    "confidence",
    "plate_format",
    "country",
    "region",
    "lane",
    "first_seen",
    "last_seen",
    "read_count",
    "variants",
    "read_ids",
    "best_read_id",
    "source",
    "direction",
    "vehicle_type",
    "vehicle_color",
    "vehicle_make",
    "vehicle_model",
    "camera_name",
    "site",
    "zone",
    "lat",
    "lon",
    "heading",
    "watchlist_hits",
    "correction_id",
    "received_at",
    "emitted_at",
)


def _plate_events(recs: Sequence[dict[str, Any]]) -> Columns:
    cols = _plain(PLATE_EVENT_PLAIN)(recs)
    cols["version"] = [r.get("version") or 0 for r in recs]
    cols["access_status"] = [r.get("access_status") or "unknown" for r in recs]
    best: list[str | None] = []
    keys: list[list[str]] = []
    kinds: list[list[str]] = []
    if not any(r.get("best_crop") or r.get("images") for r in recs):
        empty: list[str] = []  # shared: the client only reads it
        cols["best_crop_key"], cols["image_keys"], cols["image_kinds"] = (
            [None] * len(recs),
            [empty] * len(recs),
            [empty] * len(recs),
        )
        return cols
    for r in recs:
        if not r.get("best_crop") and not r.get("images"):
            best.append(None)
            keys.append([])
            kinds.append([])
            continue
        slots = image_slots("plate_event", r)
        has_best = bool(r.get("best_crop")) and bool(slots)
        best.append(slots[0].key if has_best else None)
        keys.append([s.key for s in slots])
        kinds.append([s.kind for s in slots])
    cols["best_crop_key"], cols["image_keys"], cols["image_kinds"] = best, keys, kinds
    return cols


PLATE_READ_PLAIN = (
    "read_id",
    "frame_id",
    "camera_id",
    "ts",
    "plate",
    "plate_raw",
    "confidence",
    "char_confidences",
    "plate_format",
    "detection_confidence",
    "vehicle_type",
    "direction",
    "lane",
    "detector",
    "inference_ms",
    "received_at",
)


def _plate_reads(recs: Sequence[dict[str, Any]]) -> Columns:
    cols = _plain(PLATE_READ_PLAIN)(recs)
    cols["candidate_plates"] = [[c["plate"] for c in r.get("candidates") or ()] for r in recs]
    cols["candidate_confidences"] = [
        [c["confidence"] for c in r.get("candidates") or ()] for r in recs
    ]
    cols["plate_box"] = [_box(r.get("plate_box")) for r in recs]
    cols["vehicle_box"] = [_box(r.get("vehicle_box")) for r in recs]
    keys, _ = _keys("plate_read", recs)
    cols["crop_key"] = [k[0] if k else None for k in keys]
    return cols


CAMERA_EVENT_PLAIN = (
    "event_id",
    "source",
    "camera_id",
    "device_id",
    "device_event_id",
    "event_type",
    "ts",
    "ts_local",
    "received_at",
    "plate_raw",
    "confidence",
    "country",
    "region",
    "direction",
    "direction_raw",
    "lane",
    "vehicle_type",
    "vehicle_color",
    "vehicle_make",
    "vehicle_model",
)


def _camera_events(recs: Sequence[dict[str, Any]]) -> Columns:
    cols = _plain(CAMERA_EVENT_PLAIN)(recs)
    cols["plate"] = [r.get("plate") or "" for r in recs]  # '' = the device made no read
    cols["plate_box"] = [_box(r.get("plate_box")) for r in recs]
    cols["candidate_plates"] = [[c["plate"] for c in r.get("candidates") or ()] for r in recs]
    cols["candidate_confidences"] = [
        [c["confidence"] for c in r.get("candidates") or ()] for r in recs
    ]
    cols["image_keys"], cols["image_kinds"] = _keys("camera_event", recs)
    cols["attributes"] = [r.get("attributes") or {} for r in recs]
    return cols


def _camera_status(recs: Sequence[dict[str, Any]]) -> Columns:
    cols = _plain(
        ("camera_id", "ts", "state", "source", "reason", "fps", "events_per_min", "last_event_ts")
    )(recs)
    cols["details"] = [r.get("details") or {} for r in recs]
    return cols


_ANOMALY = (
    "anomaly_id",
    "kind",
    "plate",
    "camera_id",
    "ts",
    "distance_km",
    "seconds_apart",
    "speed_kmh",
    "limit_kmh",
    "min_travel_s",
    "reason",
    "event_logged_at",
    "emitted_at",
)
_SIGHTING = ("event_id", "camera_id", "plate", "ts", "confidence", "site", "lat", "lon")


def _anomalies(recs: Sequence[dict[str, Any]]) -> Columns:
    """Anomalies with both sightings flattened into first_* and second_* columns."""
    cols = _plain(_ANOMALY)(recs)
    for side in ("first", "second"):
        for name in _SIGHTING:
            cols[f"{side}_{name}"] = [r[side][name] for r in recs]
    # overstays only (migration 008); null for clones, misreads and records written before
    cols["limit_s"] = [r.get("limit_s") for r in recs]
    cols["exit_ts"] = [r.get("exit_ts") for r in recs]
    return cols


TABLES: tuple[TableMap, ...] = (
    TableMap(
        "plate_events",
        catalogue.PLATE_EVENTS,
        "plate_event",
        "event_id",
        _plate_events,
        (("version", 0, UINT32_MAX), ("read_count", 0, UINT32_MAX)),
    ),
    TableMap("plate_reads", catalogue.PLATE_READS, "plate_read", "read_id", _plate_reads),
    TableMap("camera_events", catalogue.CAMERA_EVENTS, "camera_event", "event_id", _camera_events),
    TableMap(
        "alerts",
        catalogue.ALERTS,
        "bolo_alert",
        "alert_id",
        _plain(
            (
                "alert_id",
                "entry_id",
                "list_id",
                "list_kind",
                "pattern",
                "match_type",
                "reason",
                "priority",
                "owner",
                "event_id",
                "camera_id",
                "plate",
                "confidence",
                "ts",
                "early",
                "read_id",
                "site",
                "zone",
                "camera_name",
                "crop_s3_key",
                "received_at",
                "emitted_at",
            )
        ),
    ),
    TableMap(
        "alert_deliveries",
        catalogue.ALERT_DELIVERIES,
        "alert_delivery",
        "delivery_id",
        _plain(
            (
                "delivery_id",
                "alert_id",
                "channel",
                "target",
                "status",
                "attempts",
                "error",
                "ts",
            )
        ),
        (("attempts", 0, UINT32_MAX),),
    ),
    TableMap(
        "camera_status", catalogue.CAMERA_STATUS, "camera_status", "camera_id", _camera_status
    ),
    TableMap(
        "corrections",
        catalogue.CORRECTIONS,
        "correction",
        "correction_id",
        _plain(
            (
                "correction_id",
                "event_id",
                "action",
                "plate",
                "previous_plate",
                "user",
                "reason",
                "ts",
                "event_partition",
                "event_offset",
            )
        ),
    ),
    TableMap(
        "audit_log",
        catalogue.AUDIT,
        "audit_record",
        "audit_id",
        _plain(
            (
                "audit_id",
                "ts",
                "actor",
                "role",
                "action",
                "resource",
                "query",
                "result_count",
                "status",
                "client_ip",
                "request_id",
            )
        ),
        (("status", 0, 65535),),
    ),
    TableMap(
        "anomalies",
        catalogue.ANOMALIES,
        "plate_anomaly",
        "anomaly_id",
        _anomalies,
        (("exit_ts", MIN_TS_MS, MAX_TS_MS - 1),),
    ),
)
BY_TABLE = {t.table: t for t in TABLES}
BY_TOPIC = {t.topic.name: t for t in TABLES}
