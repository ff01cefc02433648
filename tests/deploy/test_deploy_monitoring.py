"""The Grafana dashboard and the Prometheus rules: well formed, and every metric they query is
one the stages export (names found in the source), or comes from Strimzi's Kafka Exporter,
the kubelet/cAdvisor or Prometheus itself."""

from __future__ import annotations

import json
import re

import yaml
from deploy_helpers import ROOT

RULES = yaml.safe_load(
    (ROOT / "deploy/monitoring/prometheus-rules.yaml").read_text(encoding="utf-8")
)
DASHBOARD = json.loads(
    (ROOT / "deploy/monitoring/grafana/platestream-pipeline.json").read_text(encoding="utf-8")
)
EXTERNAL = {  # metric -> who exports it
    "kafka_consumergroup_lag": "Strimzi Kafka Exporter",
    "kafka_topic_partition_current_offset": "Strimzi Kafka Exporter",
    "container_cpu_usage_seconds_total": "cAdvisor (kubelet)",
    "container_memory_working_set_bytes": "cAdvisor (kubelet)",
    "up": "Prometheus",
}
# Metrics the dashboard and rules expect from stages that do not export them yet (metric -> the
# request to the stage owner); an entry must leave once a stage exports it. None open now.
PENDING: dict[str, str] = {}
PROMQL_WORDS = {
    "sum",
    "by",
    "rate",
    "increase",
    "delta",
    "histogram_quantile",
    "clamp_min",
    "and",
    "or",
    "unless",
    "without",
    "on",
    "ignoring",
    "le",
    "avg",
    "max",
    "min",
    "count",
    "humanizePercentage",
}


def exprs() -> list[str]:
    found = [r["expr"] for g in RULES["groups"] for r in g["rules"]]
    for panel in DASHBOARD["panels"]:
        found += [t["expr"] for t in panel.get("targets", [])]
    return found


def metric_names(expr: str) -> set[str]:
    expr = re.sub(r'"[^"]*"', '""', expr)  # drop label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # and label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # and ranges
    words = set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr))
    words = {w for w in words if not re.fullmatch(r"[0-9.e]+|[a-z]", w)}
    expr_labels = set(re.findall(r"by \(([^)]*)\)", expr))
    labels = {lbl.strip() for group in expr_labels for lbl in group.split(",")}
    return {w for w in words - PROMQL_WORDS - labels if "_" in w or w == "up"}


def exported_names() -> set[str]:
    """Metric names the stages register: literal names in the source, plus enrich's Stats counters."""
    names = set()
    for path in list((ROOT / "services").rglob("*.py")) + list(
        (ROOT / "platestream").rglob("*.py")
    ):
        names |= set(
            re.findall(
                r"""(?:Counter|Gauge|Histogram|Summary|MetricFamily)\(\s*["']([a-z_:][a-z0-9_:]*)["']""",
                path.read_text(encoding="utf-8"),
            )
        )
    from services.enrich.processor import Stats

    names |= {f"platestream_enrich_{s}" for s in Stats.__slots__}
    exposed = set(names)
    for n in names:  # what Prometheus sees: counters get _total, histograms _bucket/_sum/_count
        exposed |= {
            n if n.endswith("_total") else f"{n}_total",
            f"{n}_bucket",
            f"{n}_sum",
            f"{n}_count",
        }
    return exposed


def test_dashboard_is_well_formed() -> None:
    ids = [p["id"] for p in DASHBOARD["panels"]]
    assert len(ids) == len(set(ids))
    assert DASHBOARD["uid"] == "platestream-pipeline"
    for p in DASHBOARD["panels"]:
        grid = p["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24
        if p["type"] != "row":
            assert p["targets"] and p["datasource"]["uid"] == "${datasource}"


def test_rules_are_well_formed() -> None:
    names = set()
    for group in RULES["groups"]:
        for rule in group["rules"]:
            assert rule["alert"] not in names
            names.add(rule["alert"])
            assert rule["labels"]["severity"] in ("warning", "critical")
            assert rule["annotations"]["summary"]
            assert rule["expr"].count("(") == rule["expr"].count(")")
    for topic_needed in (
        "PlatestreamConsumerLagHigh",
        "PlatestreamDeadLettersGrowing",
        "PlatestreamCameraOffline",
        "PlatestreamSinkClickHouseOutage",
    ):
        assert topic_needed in names


def test_queried_metrics_exist() -> None:
    exported = exported_names()
    missing = set()
    for expr in exprs():
        missing |= {
            m
            for m in metric_names(expr)
            if m not in exported and m not in EXTERNAL and m not in PENDING
        }
    assert not missing, f"no stage exports {sorted(missing)}"
    stale = set(PENDING) & exported
    assert not stale, f"exported now, remove from PENDING: {sorted(stale)}"


def test_metric_name_extraction() -> None:
    assert metric_names(
        'sum by (consumergroup) (kafka_consumergroup_lag{consumergroup=~"platestream-.*"}) > 1'
    ) == {"kafka_consumergroup_lag"}
    assert metric_names(
        "histogram_quantile(0.95, sum by (le, route) (rate(x_seconds_bucket[5m])))"
    ) == {"x_seconds_bucket"}


def test_every_scraped_port_is_a_container_port_open_to_monitoring() -> None:
    """A pod annotated for scraping names a port its container listens on, and the network policy
    lets the monitoring namespace reach it (notify's metrics moved to their own port once)."""
    from deploy_helpers import objects

    open_ports: set[int] = set()
    for policy in objects("base", "NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            sources = rule.get("from", [])
            if any(
                s.get("namespaceSelector", {})
                .get("matchLabels", {})
                .get("kubernetes.io/metadata.name")
                == "monitoring"
                for s in sources
            ):
                open_ports |= {p["port"] for p in rule.get("ports", [])}
    scraped = 0
    for dep in objects("base", "Deployment"):
        pod = dep["spec"]["template"]
        notes = pod["metadata"].get("annotations", {})
        if notes.get("prometheus.io/scrape") != "true":
            continue
        port = int(notes["prometheus.io/port"])
        listening = {
            p["containerPort"] for c in pod["spec"]["containers"] for p in c.get("ports", [])
        }
        assert port in listening, (dep["metadata"]["name"], port, listening)
        assert port in open_ports, (dep["metadata"]["name"], port)
        scraped += 1
    assert scraped >= 7


def test_notify_is_scraped_on_its_metrics_port_not_the_faust_web_port() -> None:
    from deploy_helpers import by_name

    from services.enrich.settings import NotifySettings

    pod = by_name("base", "Deployment")["platestream-notify"]["spec"]["template"]
    port = NotifySettings().notify_metrics_port
    assert pod["metadata"]["annotations"]["prometheus.io/port"] == str(port)
