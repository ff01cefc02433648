"""Prometheus metrics of the ingest stage. Labels are formats, outcomes and reasons: never plate text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class IngestMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "platestream_ingest_requests_total",
            "Push requests by format and HTTP status.",
            ["source", "status"],
            registry=r,
        )
        self.events = Counter(
            "platestream_ingest_events_total",
            "Camera events published (acknowledged).",
            ["source"],
            registry=r,
        )
        self.rejected = Counter(
            "platestream_ingest_rejected_total",
            "Rejected pushes by format and reason kind.",
            ["source", "reason"],
            registry=r,
        )
        self.dead_letters = Counter(
            "platestream_ingest_dead_letters_total",
            "Requests kept in the dead-letter topic.",
            ["source"],
            registry=r,
        )
        self.parser_errors = Counter(
            "platestream_ingest_parser_errors_total",
            "Unexpected parser exceptions (bugs), answered 400.",
            ["source"],
            registry=r,
        )
        self.no_reads = Counter(
            "platestream_ingest_no_read_events_total",
            "Camera events published without a plate (the device saw a vehicle, read nothing).",
            ["source"],
            registry=r,
        )
        self.images = Counter(
            "platestream_ingest_images_total", "Images by transport.", ["mode"], registry=r
        )
        self.ack_seconds = Histogram(
            "platestream_ingest_ack_seconds",
            "Request received -> all records acknowledged.",
            ["source"],
            registry=r,
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 15),
        )
        self.frames = Counter(
            "platestream_ingest_frames_total", "Frames published.", ["source"], registry=r
        )
        self.frames_skipped = Counter(
            "platestream_ingest_frames_skipped_total",
            "Frames not published.",
            ["reason"],
            registry=r,
        )
        self.cameras_online = Gauge(
            "platestream_ingest_cameras_online", "Connected camera streams.", registry=r
        )
        self.uploads = Counter(
            "platestream_ingest_uploads_total",
            "Video uploads by final state.",
            ["state"],
            registry=r,
        )
