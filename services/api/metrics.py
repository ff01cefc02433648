"""Prometheus metrics of the API. Labels are route templates and roles, never plate text."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ApiMetrics:
    """One registry per app, so tests can build several apps in one process."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "platestream_api_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "platestream_api_request_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.live_clients = Gauge(
            "platestream_api_live_clients", "Connected live clients", registry=self.registry
        )
        self.live_dropped = Counter(
            "platestream_api_live_dropped_total",
            "Live messages dropped for slow clients",
            registry=self.registry,
        )
        self.audit_records = Counter(
            "platestream_api_audit_records_total",
            "Audit records written",
            ["action"],
            registry=self.registry,
        )
        self.rate_limited = Counter(
            "platestream_api_rate_limited_total",
            "Requests refused by the rate limit",
            registry=self.registry,
        )
