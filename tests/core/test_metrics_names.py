"""Metric names: one ``platestream_`` prefix on every metric of every stage, durations in seconds
(``_seconds``, observed in seconds), and the notifier and health stages export theirs, including
the read -> alert latency histogram."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from services.api.metrics import ApiMetrics
from services.detect.metrics import DetectMetrics
from services.enrich.health_app import HealthGauges
from services.enrich.notify_metrics import NotifyMetrics
from services.ingest.metrics import IngestMetrics

REPO = Path(__file__).resolve().parents[2]
METRIC_CALLS = {
    "Counter",
    "Gauge",
    "Histogram",
    "Summary",
    "Info",
    "Enum",
    "CounterMetricFamily",
    "GaugeMetricFamily",
    "HistogramMetricFamily",
    "SummaryMetricFamily",
}
TIME_WORDS = re.compile(r"\b(ms|milliseconds?|latency|duration|time|seconds?)\b", re.IGNORECASE)
BAD_UNITS = re.compile(r"_(ms|millis|milliseconds|micros|us|minutes|hours)(_|$)")


def _enrich_collector() -> Any:
    from services.enrich.metrics import _Collector
    from services.enrich.processor import Stats

    processor = SimpleNamespace(
        stats=Stats(), tracker=SimpleNamespace(passages=lambda: iter(())), watchlists=[]
    )
    return _Collector(processor)  # type: ignore[arg-type]


def _anomaly_collector() -> Any:
    from services.investigate.metrics import _Collector
    from services.investigate.processor import Stats

    detector = type("D", (), {"evicted": 0, "ignored": 0, "__len__": lambda self: 0})()
    return _Collector(SimpleNamespace(stats=Stats(), detector=detector))  # type: ignore[arg-type]


def _registries() -> dict[str, CollectorRegistry]:
    out = {
        "ingest": IngestMetrics().registry,
        "detect": DetectMetrics().registry,
        "api": ApiMetrics().registry,
        "notify": NotifyMetrics().registry,
        "health": HealthGauges().registry,
    }
    for stage, make in (("enrich", _enrich_collector), ("anomalies", _anomaly_collector)):
        registry = CollectorRegistry()
        registry.register(make())
        out[stage] = registry
    return out


@pytest.mark.parametrize("stage", sorted(_registries()))
def test_each_stage_registry_has_one_prefix_and_seconds(stage: str) -> None:
    families = list(_registries()[stage].collect())
    assert families, stage
    for fam in families:
        assert fam.name.startswith("platestream_"), (stage, fam.name)
        assert not BAD_UNITS.search(fam.name), (stage, fam.name)
        if fam.type in ("histogram", "summary") and TIME_WORDS.search(fam.documentation):
            assert fam.name.endswith("_seconds"), (stage, fam.name, fam.documentation)
            buckets = [float(s.labels["le"]) for s in fam.samples if s.name.endswith("_bucket")]
            finite = [b for b in buckets if b != float("inf")]
            # seconds, not milliseconds: no bucket above an hour
            assert not finite or max(finite) <= 3600, (stage, fam.name, max(finite))


def test_every_metric_defined_in_the_source_has_the_prefix() -> None:
    """Also the ones made at run time (the sink's, the camera manager's): every first argument
    of a prometheus_client metric constructor in platestream/ and services/."""
    names: list[tuple[str, str]] = []
    for path in [*(REPO / "services").rglob("*.py"), *(REPO / "platestream").rglob("*.py")]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called not in METRIC_CALLS:
                continue
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.append((str(path.relative_to(REPO)), first.value))
            elif isinstance(first, ast.JoinedStr) and isinstance(first.values[0], ast.Constant):
                names.append((str(path.relative_to(REPO)), str(first.values[0].value) + "{...}"))
    metric_names = [(p, n) for p, n in names if re.fullmatch(r"[a-z_][a-z0-9_{}.]*", n)]
    assert len(metric_names) > 40
    wrong = [(p, n) for p, n in metric_names if not n.startswith("platestream_")]
    assert not wrong, wrong
    assert not [(p, n) for p, n in metric_names if BAD_UNITS.search(n)]


def test_detect_observes_seconds() -> None:
    metrics = DetectMetrics()
    metrics.frame_done("ok", 1, {"ocr": 40.0}, 250.0)
    r = metrics.registry
    assert r.get_sample_value("platestream_detect_frame_seconds_sum") == pytest.approx(0.25)
    assert r.get_sample_value(
        "platestream_detect_inference_seconds_sum", {"stage": "ocr"}
    ) == pytest.approx(0.04)


def test_notify_read_to_alert_latency() -> None:
    metrics = NotifyMetrics()
    alert = {"received_at": 1_700_000_000_000, "emitted_at": 1_700_000_001_500}
    metrics.alert_seen(alert)
    metrics.delivered(alert, "webhook", "delivered", 0.2, at_ms=1_700_000_003_000)
    metrics.delivered(alert, "mqtt", "failed", 5.0, at_ms=1_700_000_009_000)
    r = metrics.registry
    assert r.get_sample_value("platestream_alert_read_to_emit_seconds_sum") == pytest.approx(1.5)
    assert r.get_sample_value(
        "platestream_alert_read_to_delivery_seconds_sum", {"channel": "webhook"}
    ) == pytest.approx(3.0)
    # a failed delivery is no delivery: not in the latency
    assert (
        r.get_sample_value("platestream_alert_read_to_delivery_seconds_count", {"channel": "mqtt"})
        is None
    )
    assert (
        r.get_sample_value(
            "platestream_notify_deliveries_total", {"channel": "mqtt", "status": "failed"}
        )
        == 1.0
    )


def test_notify_serves_its_metrics() -> None:
    import socket
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    metrics = NotifyMetrics()
    metrics.serve(port)
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    names = {fam.name for fam in text_string_to_metric_families(text)}
    assert "platestream_alert_read_to_delivery_seconds" in names
