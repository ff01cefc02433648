"""Prometheus metrics of the enrich processor (counters read from its Stats; no plate text)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from platestream.probes import start_metrics_server

if TYPE_CHECKING:
    from services.enrich.processor import EnrichProcessor


class _Collector:
    def __init__(self, processor: EnrichProcessor) -> None:
        self._p = processor

    def collect(self) -> Iterator[Metric]:
        for name, value in self._p.stats.as_dict().items():
            yield CounterMetricFamily(
                f"platestream_enrich_{name}", f"Enrich {name} so far.", value=value
            )
        yield GaugeMetricFamily(
            "platestream_enrich_open_passages",
            "Open passages.",
            value=sum(1 for _ in self._p.tracker.passages()),
        )
        yield GaugeMetricFamily(
            "platestream_enrich_watchlist_entries",
            "Watchlist entries held.",
            value=len(self._p.watchlists),
        )


def serve_metrics(processor: EnrichProcessor, port: int, host: str = "127.0.0.1") -> None:
    REGISTRY.register(_Collector(processor))
    start_metrics_server(port, addr=host)  # /health fails when the consume loop stops polling
