"""Prometheus metrics of the detect stage (port 9101). Labels are stages and outcomes, never plate text."""

from __future__ import annotations

import threading
import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from platestream.probes import start_metrics_server

# seconds (the Prometheus base unit): 5 ms .. 5 s
SECONDS_BUCKETS = (0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2, 5)


class DetectMetrics:
    """The stage's counters, histograms and gauges in their own registry (tests make several)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.frames = Counter(
            "platestream_detect_frames_total",
            "Frames processed, by outcome.",
            ["outcome"],
            registry=r,
        )
        self.plates = Counter(
            "platestream_detect_plates_total", "Plate reads published.", registry=r
        )
        self.rescued = Counter(
            "platestream_detect_rescued_plates_total",
            "Plates read on the second look from boxes no detector vouched for: under the detection threshold (rescue_conf), plate-shaped outlines (shape_look) or text lines of the frame (text_look); before zones.",
            registry=r,
        )
        self.plates_per_frame = Histogram(
            "platestream_detect_plates_per_frame",
            "Plates read per frame.",
            buckets=(0, 1, 2, 3, 5, 8, 13),
            registry=r,
        )
        self.stage_seconds = Histogram(
            "platestream_detect_inference_seconds",
            "Inference time per stage, seconds.",
            ["stage"],
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.frame_seconds = Histogram(
            "platestream_detect_frame_seconds",
            "Whole work per frame, seconds.",
            buckets=SECONDS_BUCKETS,
            registry=r,
        )
        self.queue_depth = Gauge(
            "platestream_detect_queue_depth", "Frames in flight in the work queue.", registry=r
        )
        self.paused = Gauge(
            "platestream_detect_paused",
            "1 while partitions are paused for backpressure.",
            registry=r,
        )
        self.fps = Gauge(
            "platestream_detect_frames_per_second",
            "Frames processed per second (10 s window).",
            registry=r,
        )
        self.dead_letters = Counter(
            "platestream_detect_dead_letters_total",
            "Frames sent to the dead-letter topic.",
            registry=r,
        )
        self.commits = Counter(
            "platestream_detect_commits_total", "Offset commits after delivered reads.", registry=r
        )
        self.zone_drops = Counter(
            "platestream_detect_reads_outside_zones_total",
            "Reads dropped because the plate box centre is outside the camera's ROI or inside an"
            " exclusion zone, by reason (outside-roi | excluded).",
            ["reason"],
            registry=r,
        )
        self._lock = threading.Lock()
        self._window: list[float] = []

    def frame_done(
        self, outcome: str, plates: int, timings: dict[str, float], total_ms: float
    ) -> None:
        self.frames.labels(outcome).inc()
        if outcome == "ok":
            self.plates_per_frame.observe(plates)
            self.frame_seconds.observe(total_ms / 1000.0)
            for stage, ms in timings.items():
                self.stage_seconds.labels(stage).observe(ms / 1000.0)
        now = time.monotonic()
        with self._lock:
            self._window.append(now)
            cutoff = now - 10.0
            while self._window and self._window[0] < cutoff:
                self._window.pop(0)
            self.fps.set(len(self._window) / 10.0)

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        if port:
            # /health answers 503 when the consume loop stops polling (platestream/probes.py)
            start_metrics_server(port, addr=host, registry=self.registry)
