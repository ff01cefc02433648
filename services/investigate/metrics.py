"""Prometheus metrics of the clone detector (counters from its Stats; no plate text), on the port
that also answers the probes (/health turns 503 when the consume loop stops polling)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from platestream.probes import start_metrics_server

if TYPE_CHECKING:
    from services.investigate.processor import AnomalyProcessor


class _Collector:
    def __init__(self, processor: AnomalyProcessor) -> None:
        self._p = processor

    def collect(self) -> Iterator[Metric]:
        for name, value in self._p.stats.as_dict().items():
            yield CounterMetricFamily(
                f"platestream_anomalies_{name}", f"Clone detector {name} so far.", value=value
            )
        d = self._p.detector
        yield GaugeMetricFamily(
            "platestream_anomalies_plates_remembered", "Plates in memory.", value=len(d)
        )
        yield CounterMetricFamily(
            "platestream_anomalies_plates_evicted",
            "Plates dropped by the LRU bound.",
            value=d.evicted,
        )
        yield CounterMetricFamily(
            "platestream_anomalies_low_confidence",
            "Passages ignored for low confidence.",
            value=d.ignored,
        )


def serve_metrics(processor: AnomalyProcessor, port: int, host: str = "127.0.0.1") -> None:
    REGISTRY.register(_Collector(processor))
    start_metrics_server(port, addr=host)
