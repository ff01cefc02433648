"""Prometheus metrics of the notifier (port 9109): deliveries by channel and outcome, and the
latency the operators of an alerting system watch: from the read reaching ingest to the alert
reaching its receiver. Labels are channels and outcomes, never plate text or targets."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from platestream.timeutil import now_ms

# 50 ms .. 10 min: a read becomes an alert when its passage closes (seconds), or early.
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 30, 60, 120, 300, 600)
DELIVERY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class NotifyMetrics:
    """The notifier's metrics in their own registry (tests build several apps)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.alerts = Counter("platestream_notify_alerts_total", "Alerts consumed.", registry=r)
        self.deliveries = Counter(
            "platestream_notify_deliveries_total",
            "Deliveries by channel and outcome (delivered | failed | skipped: already delivered).",
            ["channel", "status"],
            registry=r,
        )
        self.delivery_seconds = Histogram(
            "platestream_notify_delivery_seconds",
            "Time to deliver one alert on one route, retries included, seconds.",
            ["channel"],
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.delivered_ids = Gauge(
            "platestream_notify_delivered_ids",
            "Delivery ids held to deliver once per target (read back from the deliveries topic).",
            registry=r,
        )
        self.dead_letters = Counter(
            "platestream_notify_dead_letters_total",
            "Alerts dead-lettered (undecodable, or not delivered after every attempt).",
            registry=r,
        )
        self.read_to_emit = Histogram(
            "platestream_alert_read_to_emit_seconds",
            "Read received by ingest -> alert emitted by enrich (the alert's received_at to its"
            " emitted_at), seconds.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.read_to_delivery = Histogram(
            "platestream_alert_read_to_delivery_seconds",
            "Read received by ingest -> alert delivered to its receiver, by channel, seconds.",
            ["channel"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def alert_seen(self, alert: dict[str, Any]) -> None:
        self.alerts.inc()
        received, emitted = alert.get("received_at"), alert.get("emitted_at")
        if received is not None and emitted is not None:
            self.read_to_emit.observe(max(0.0, (int(emitted) - int(received)) / 1000.0))

    def delivered(
        self, alert: dict[str, Any], channel: str, status: str, seconds: float, *, at_ms: int = 0
    ) -> None:
        self.deliveries.labels(channel, status).inc()
        self.delivery_seconds.labels(channel).observe(max(0.0, seconds))
        received = alert.get("received_at")
        if status == "delivered" and received is not None:
            latency = ((at_ms or now_ms()) - int(received)) / 1000.0
            self.read_to_delivery.labels(channel).observe(max(0.0, latency))

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        if port:
            start_http_server(port, addr=host, registry=self.registry)
