"""What `platestream bench pipeline` watches while it runs, and the figures it reports afterwards.

`Watch` holds the probes of one run (rows reaching ClickHouse, freshness of sampled ids, alerts on
their topic, consumer lag) with the load pumps and the process sampler; `figures` turns them, once
the load has drained, into the result's throughput, freshness, CPU cost, lag and series.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from platestream import topics as catalogue
from platestream.bench import harness, probes
from platestream.bench.load import RecordPump
from platestream.bench.prepare import server_freshness
from platestream.bench.reference import UnitSampler
from platestream.bench.report import cpu_cost
from platestream.benchutil import ProcessSampler
from platestream.settings import CommonSettings


@dataclass
class Watch:
    """The probes of one run, the pumps that make its load and the sampler of its processes."""

    tables: dict[str, str]
    rows: probes.RowCounter
    reads_fresh: probes.FreshnessProbe
    events_fresh: probes.FreshnessProbe
    frames_fresh: probes.FreshnessProbe
    alerts: probes.TopicWatcher
    lag: probes.LagSampler
    hot: set[int]  # indexes of the reads on a watchlist
    pumps: list[RecordPump] = field(default_factory=list)
    sampler: ProcessSampler | None = None
    units: UnitSampler | None = None  # the reference unit through the run

    def probes(self) -> tuple[Any, ...]:
        """Everything started and stopped around the load."""
        return (
            self.reads_fresh,
            self.events_fresh,
            self.frames_fresh,
            self.rows,
            self.lag,
            self.alerts,
        )


def watch(settings: CommonSettings, *, detect: bool, hot: set[int]) -> Watch:
    """The probes of a run in ``settings``' namespace (not started)."""
    db = settings.clickhouse_database
    reads_topic = settings.topic(catalogue.PLATE_READS.name)
    tables = {
        "plate_reads": f"{db}.plate_reads",
        "plate_events": f"{db}.plate_events",
        "alerts": f"{db}.alerts",
    }

    def fresh(table: str, id_column: str, name: str, **kw: Any) -> probes.FreshnessProbe:
        return probes.FreshnessProbe(
            settings=settings,
            table=f"{db}.{table}",
            id_column=id_column,
            time_column="ts",
            name=name,
            **kw,
        )

    groups = {
        "enrich": (harness.group_id(settings, "platestream-enrich"), [reads_topic]),
        "sink-clickhouse": (
            harness.group_id(settings, "platestream-sink-clickhouse"),
            [
                reads_topic,
                settings.topic(catalogue.PLATE_EVENTS.name),
                settings.topic(catalogue.ALERTS.name),
            ],
        ),
    }
    if detect:
        groups["detect"] = (
            harness.group_id(settings, "platestream-detect"),
            [settings.topic(catalogue.FRAMES.name)],
        )
    pumps: list[RecordPump] = []  # filled by the run as it starts them

    def known_ends() -> dict[tuple[str, int], int]:
        """The last offset each pump produced per partition (the local broker's high watermark
        is not the true end)."""
        ends: dict[tuple[str, int], int] = {}
        for p in pumps:
            ends.update(p.ends)
        return ends

    return Watch(
        tables=tables,
        rows=probes.RowCounter(settings=settings, tables=tables),
        reads_fresh=fresh("plate_reads", "read_id", "fresh-reads"),
        events_fresh=fresh("plate_events", "best_read_id", "fresh-events", interval_s=0.5),
        frames_fresh=fresh("plate_reads", "frame_id", "fresh-frames", interval_s=0.5),
        alerts=probes.TopicWatcher(
            settings=settings,
            topic=settings.topic(catalogue.ALERTS.name),
            key_field="alert_id",
            name="alerts",
        ),
        lag=probes.LagSampler(settings=settings, groups=groups, known_ends=known_ends),
        hot=hot,
        pumps=pumps,
    )


def figures(
    result: dict[str, Any],
    settings: CommonSettings,
    w: Watch,
    *,
    expected: int,
    load_s: float,
    drained_s: float,
    load_start_ms: int,
    detect: bool,
) -> dict[str, Any]:
    """The run's figures added to ``result``, from its probes and what ClickHouse holds."""
    from platestream.clickhouse import make_clickhouse

    db = settings.clickhouse_database
    pump = w.pumps[0]
    client = make_clickhouse(settings)
    distinct_reads = int(str(client.command(f"SELECT uniqExact(read_id) FROM {db}.plate_reads")))
    result["produced"] = {
        "reads": expected,
        "rate_target": pump.pace.rate,
        "rate_achieved": round(pump.stats.rate(), 1),
        "load_s": round(load_s, 2),
        "drained_s": round(drained_s, 2),
        "frames": sum(p.stats.produced for p in w.pumps[1:]),
    }
    series = w.rows.series
    points = {
        label: [(r["t"], r[label]) for r in series if r.get(label) is not None]
        for label in w.tables
    }
    result["throughput"] = {
        label: {
            **probes.sustained_rate(points[label], expected if label == "plate_reads" else None),
            "peak_5s_rows_per_s": probes.peak_rate(points[label]),
        }
        for label in w.tables
    }
    result["throughput"]["plate_reads"]["distinct_read_ids"] = distinct_reads
    result["freshness"] = {
        "read_row_polled": w.reads_fresh.summary(),
        "read_row_server": server_freshness(
            client,
            f"{db}.plate_reads",
            f"detector = 'bench' AND received_at >= fromUnixTimestamp64Milli({load_start_ms})",
        ),
        "event_row_polled": w.events_fresh.summary(),
        "event_row_server": server_freshness(client, f"{db}.plate_events"),
        "alert_on_topic": {
            **probes.latency_summary(w.alerts.latencies()),
            "alerts": len(w.alerts.records),
            "watchlisted_reads": len(w.hot),
        },
        # when enrich wrote each alert: without the watcher's own fetch (probes.TopicWatcher)
        "alert_written": probes.latency_summary(w.alerts.latencies(written=True)),
    }
    if detect:
        result["freshness"]["frame_to_read_row_polled"] = w.frames_fresh.summary()
    samples = w.sampler.samples if w.sampler else []
    during = w.units.summary() if w.units else None
    result["reference_unit_during"] = during
    unit = during["median_us"] if during else result["machine"]["reference_unit_us"]
    result["cpu_cost"] = cpu_cost(samples, expected, unit)
    result["lag"] = w.lag.summary()
    result["processes"] = w.sampler.summary() if w.sampler else {}
    result["series"] = {
        "rows": series,
        "lag": w.lag.series,
        "processes": samples,
        "produced": pump.stats.series,
    }
    result["tables"] = w.tables
    return result
