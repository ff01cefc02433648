"""Typed settings of the sink stage (ClickHouse and S3 projections, migrations, replay)."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import Field, field_validator

from platestream.settings import CommonSettings

# Tables whose retention can be set one by one (days; 0 keeps rows forever).
RETENTION_TABLES = (
    "plate_events",
    "plate_reads",
    "camera_events",
    "alerts",
    "alert_deliveries",
    "camera_status",
    "corrections",
    "audit_log",
    "anomalies",
    # Purpose-bound retention (migration 007): passages with no watchlist hit, not watchlisted
    # and not corrected by a user; the others keep plate_events' days. 0: the same as plate_events.
    "plate_events_no_hit",
)
DEFAULT_RETENTION_DAYS: dict[str, int] = {
    "plate_events": 365,
    "plate_reads": 30,
    "camera_events": 90,
    "alerts": 730,
    "alert_deliveries": 730,
    "camera_status": 90,
    # Corrections are the audit trail of changes: kept as long as the audit log (0 keeps forever).
    "corrections": 730,
    "audit_log": 730,
    "anomalies": 730,  # leads an investigator may come back to: kept as long as alerts
    "plate_events_no_hit": 90,
}


class SinkSettings(CommonSettings):
    """Sink stage settings; env PLATESTREAM_SINK_*."""

    # finds and filters the rows of an erased plate by the HMAC the API wrote (erasure.py)
    uses_privacy_subject_key = True
    sink_group_clickhouse: str = "platestream-sink-clickhouse"
    sink_group_s3: str = "platestream-sink-s3"
    # Tags the images of watchlist hits for the long S3 rule (image_retention.py); runs with s3.
    sink_group_image_retention: str = "platestream-sink-image-retention"
    sink_group_erasure: str = "platestream-sink-erasure"
    sink_batch_rows: int = Field(
        default=20_000, ge=1, description="Flush when this many records are buffered."
    )
    sink_batch_ms: int = Field(
        default=300, ge=10, description="Flush when the oldest buffered record is this old."
    )
    sink_passages_batch_ms: int = Field(
        default=0,
        ge=0,
        le=60_000,
        description="Insert passages (plate_events, eight views) at most this often instead of "
        "every sink_batch_ms (0: with everything else). An insert costs ClickHouse about as much "
        "for 60 passages as for 600, and a passage is already seconds behind its first read.",
    )
    sink_pipeline: bool = Field(
        default=True, description="Decode the next batch while one insert is in flight."
    )
    sink_passthrough: bool = Field(
        default=True,
        description="Send passages and reads to ClickHouse as record bytes for it to decode "
        "(services/sink/passthrough.py) instead of decoding them in Python.",
    )
    sink_passthrough_min_rows: int = Field(
        default=500,
        ge=1,
        description="Fewer records of one schema in a batch are decoded in Python: below about "
        "this many, ClickHouse's fixed cost per statement outweighs what the pass-through saves.",
    )
    sink_backoff_initial_s: float = Field(default=0.5, gt=0)
    sink_backoff_max_s: float = Field(default=10.0, gt=0)
    sink_metrics_port: int = 9103
    sink_targets: str = Field(
        default="clickhouse,s3",
        description="Loops `platestream sink` runs: clickhouse, s3 or both.",
    )
    sink_s3_workers: int = Field(default=8, ge=1, le=64)
    sink_s3_plate_metadata: bool = Field(
        default=True, description="Put the plate text in the object metadata (x-amz-meta-plate)."
    )
    sink_s3_frames: bool = Field(
        default=False, description="Also store inline full frames (anpr.frames.v1) under frames/."
    )
    sink_s3_redact: bool = Field(
        default=False,
        description="Blur faces and the plates other than the read one in stored scene, vehicle"
        " and frame images (platestream/redact.py; docs/privacy.md).",
    )
    sink_s3_redact_keep_originals: bool = Field(
        default=False,
        description="Also keep each unredacted original under originals/ (the API presigns them"
        " only for PLATESTREAM_API_ORIGINAL_IMAGE_ROLES).",
    )
    # Migration parameters.
    sink_engine: Literal["local", "replicated"] = "local"
    sink_replica_path: str = "/clickhouse/tables/{shard}/{database}/{table}"
    sink_replica_name: str = "{replica}"
    sink_dedup_window: int = Field(
        default=1000, ge=0, description="non_replicated_deduplication_window of the tables."
    )
    sink_investigations_refresh_minutes: int = Field(
        default=5,
        ge=1,
        le=1440,
        description="Period of the refreshable views od_hourly and travel_times (migration 009):"
        " each refresh recomputes them from plate_events; applied when the migration runs.",
    )
    sink_retention_days: str = Field(
        default="",
        description='JSON object table -> days, e.g. {"plate_reads": 7}; 0 keeps forever.',
    )
    sink_retention_days_plate_events: int | None = None
    sink_retention_days_plate_reads: int | None = None
    sink_retention_days_camera_events: int | None = None
    sink_retention_days_alerts: int | None = None
    sink_retention_days_alert_deliveries: int | None = None
    sink_retention_days_camera_status: int | None = None
    sink_retention_days_corrections: int | None = None
    sink_retention_days_audit_log: int | None = None
    sink_retention_days_anomalies: int | None = None
    sink_retention_days_plate_events_no_hit: int | None = None

    @field_validator("sink_retention_days")
    @classmethod
    def _valid_retention_json(cls, value: str) -> str:
        if not value.strip():
            return ""
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ValueError("must be a JSON object table -> days")
        for table, days in parsed.items():
            if table not in RETENTION_TABLES:
                raise ValueError(f"unknown table {table!r}; known: {', '.join(RETENTION_TABLES)}")
            if not isinstance(days, int) or isinstance(days, bool) or days < 0:
                raise ValueError(f"{table}: days must be an integer >= 0")
        return value

    @field_validator("sink_targets")
    @classmethod
    def _valid_targets(cls, value: str) -> str:
        targets = {t.strip() for t in value.split(",") if t.strip()}
        if not targets or not targets <= {"clickhouse", "s3"}:
            raise ValueError("a comma-separated subset of clickhouse,s3")
        return value

    def targets(self) -> set[str]:
        return {t.strip() for t in self.sink_targets.split(",") if t.strip()}

    def retention_days(self) -> dict[str, int]:
        """Days of retention per table: defaults, then the JSON, then the per-table variables."""
        days = dict(DEFAULT_RETENTION_DAYS)
        if self.sink_retention_days:
            days.update(json.loads(self.sink_retention_days))
        for table in RETENTION_TABLES:
            value = getattr(self, f"sink_retention_days_{table}")
            if value is not None:
                if value < 0:
                    raise ValueError(
                        f"PLATESTREAM_SINK_RETENTION_DAYS_{table.upper()} must be >= 0"
                    )
                days[table] = value
        return days
