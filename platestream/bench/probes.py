"""What the benchmark watches while load runs: freshness of sampled ids, rows, consumer lag, alerts.

Every probe is a small thread with its own client, started and stopped by the caller, bounded by
the caller's stop event; none of them writes anything.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from platestream.benchutil import percentile
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)


class _Thread:
    name = "probe"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def loop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _run(self) -> None:
        try:
            self.loop()
        except Exception:
            logger.exception("%s probe failed", self.name)

    def start(self) -> _Thread:
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)


def latency_summary(values_ms: list[float]) -> dict[str, float | int | None]:
    return {
        "samples": len(values_ms),
        "p50_ms": percentile(values_ms, 50),
        "p90_ms": percentile(values_ms, 90),
        "p99_ms": percentile(values_ms, 99),
        "max_ms": max(values_ms) if values_ms else None,
    }


class FreshnessProbe(_Thread):
    """Polls a ClickHouse table for sampled ids; freshness = first poll that sees the id - produce time.

    The poll that finds an id started at most ``interval_s`` (plus one query) after the row became
    queryable, so the figures are an upper bound with that resolution. Queries carry the ids and a
    lower time bound, so they stay cheap as the table grows.
    """

    def __init__(
        self,
        *,
        settings: CommonSettings,
        table: str,
        id_column: str,
        time_column: str | None = None,
        interval_s: float = 0.2,
        batch: int = 2000,
        name: str = "freshness",
    ) -> None:
        super().__init__()
        self.settings = settings
        self.table = table
        self.id_column = id_column
        self.time_column = time_column
        self.interval_s = interval_s
        self.batch = batch
        self.name = name
        self.pending: dict[str, int] = {}
        self.seen: dict[str, int] = {}
        self.errors = 0
        self._lock = threading.Lock()

    def track(self, record_id: str, produced_ms: int) -> None:
        with self._lock:
            self.pending[record_id] = produced_ms

    def loop(self) -> None:
        from platestream.clickhouse import make_clickhouse

        client = make_clickhouse(self.settings)
        while not self._stop.wait(self.interval_s):
            self.poll_once(client)

    def poll_once(self, client: Any) -> int:
        with self._lock:
            ids = list(self.pending.items())[: self.batch]
        if not ids:
            return 0
        started = now_ms()
        where = f"{self.id_column} IN %(ids)s"
        params: dict[str, Any] = {"ids": [i for i, _ in ids]}
        if self.time_column:
            where += f" AND {self.time_column} >= fromUnixTimestamp64Milli(%(since)s)"
            params["since"] = min(p for _, p in ids) - 60_000
        try:
            rows = client.query(
                f"SELECT DISTINCT {self.id_column} FROM {self.table} WHERE {where}",
                parameters=params,
            ).result_rows
        except Exception as exc:  # the probe must outlive a ClickHouse outage
            self.errors += 1
            logger.debug("freshness poll failed: %s", exc)
            return 0
        with self._lock:
            for (rid,) in rows:
                produced = self.pending.pop(str(rid), None)
                if produced is not None:
                    self.seen[str(rid)] = started - produced
        return len(rows)

    def wait_all(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if not self.pending:
                    return True
            time.sleep(0.2)
        return not self.pending

    def summary(self) -> dict[str, Any]:
        out = latency_summary(list(self.seen.values()))
        out["missing"] = len(self.pending)
        out["poll_interval_ms"] = int(self.interval_s * 1000)
        out["poll_errors"] = self.errors
        return out


class RowCounter(_Thread):
    """Samples ``count()`` (and optionally a distinct count) of tables once a second: rows over time."""

    name = "rows"

    def __init__(
        self, *, settings: CommonSettings, tables: dict[str, str], interval_s: float = 1.0
    ) -> None:
        super().__init__()
        self.settings = settings
        self.tables = tables  # label -> table
        self.interval_s = interval_s
        self.series: list[dict[str, Any]] = []
        self.t0 = time.monotonic()

    def loop(self) -> None:
        from platestream.clickhouse import make_clickhouse

        client = make_clickhouse(self.settings)
        self.t0 = time.monotonic()
        while not self._stop.wait(self.interval_s):
            row: dict[str, Any] = {"t": round(time.monotonic() - self.t0, 2)}
            for label, table in self.tables.items():
                try:
                    row[label] = int(str(client.command(f"SELECT count() FROM {table}")))
                except Exception:
                    row[label] = None
            self.series.append(row)

    def sustained(self, label: str, target: int | None = None) -> dict[str, Any]:
        """Rows/s between the first and the last change of the count (the steady window).

        With ``target`` (the number of rows expected), the window ends where the count first
        reached it, so trailing idle seconds do not dilute the rate.
        """
        points = [(r["t"], r[label]) for r in self.series if r.get(label) is not None]
        return sustained_rate(points, target)


def sustained_rate(points: list[tuple[float, int]], target: int | None = None) -> dict[str, Any]:
    """Rate between the sample before the first increase and the first sample at the final count."""
    if len(points) < 2:
        return {"rows": points[-1][1] if points else 0, "rows_per_s": None, "window_s": None}
    start_count = points[0][1]
    first = next((k for k, (_, c) in enumerate(points) if c > start_count), None)
    if first is None:
        return {"rows": start_count, "rows_per_s": 0.0, "window_s": 0.0}
    begin_t, begin_c = points[max(0, first - 1)]
    final = points[-1][1] if target is None else min(points[-1][1], target)
    end = next(k for k, (_, c) in enumerate(points) if c >= final)
    end_t, end_c = points[end]
    span = end_t - begin_t
    return {
        "rows": points[-1][1] - start_count,
        "rows_per_s": round((end_c - begin_c) / span, 1) if span > 0 else None,
        "window_s": round(span, 2),
    }


def peak_rate(points: list[tuple[float, int]], window_s: float = 5.0) -> float | None:
    """Highest rate over any ``window_s`` stretch of a count series."""
    best = None
    for i, (t0, c0) in enumerate(points):
        for t1, c1 in points[i + 1 :]:
            if t1 - t0 >= window_s:
                rate = (c1 - c0) / (t1 - t0)
                best = rate if best is None else max(best, rate)
                break
    return round(best, 1) if best is not None else None


@dataclass
class LagSampler(_Thread):
    """Committed offset vs end offset of consumer groups, summed per group, sampled over time.

    The local broker's high watermark is the last batch's base offset + 1, not the true end, so
    for topics the benchmark itself writes the end is taken from its own delivery reports
    (``known_ends``) when that is larger; lag of intermediate topics stays approximate there.
    """

    settings: CommonSettings
    groups: dict[str, tuple[str, list[str]]]  # label -> (group id, full topic names)
    interval_s: float = 2.0
    known_ends: Callable[[], dict[tuple[str, int], int]] | None = None
    series: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        _Thread.__init__(self)
        self.name = "lag"

    def loop(self) -> None:
        from confluent_kafka import Consumer, TopicPartition

        from platestream.kafka import consumer_config

        consumers = {
            label: Consumer(consumer_config(self.settings, group))
            for label, (group, _) in self.groups.items()
        }
        partitions: dict[str, list[Any]] = {}
        t0 = time.monotonic()
        try:
            while not self._stop.wait(self.interval_s):
                row: dict[str, Any] = {"t": round(time.monotonic() - t0, 2)}
                known = self.known_ends() if self.known_ends else {}
                for label, (_, topic_names) in self.groups.items():
                    consumer = consumers[label]
                    try:
                        if label not in partitions:
                            meta = consumer.list_topics(timeout=5)
                            partitions[label] = [
                                TopicPartition(t, p)
                                for t in topic_names
                                if t in meta.topics
                                for p in meta.topics[t].partitions
                            ]
                        committed = consumer.committed(partitions[label], timeout=5)
                        lag = 0
                        for tp in committed:
                            _, high = consumer.get_watermark_offsets(
                                TopicPartition(tp.topic, tp.partition), timeout=5, cached=False
                            )
                            end = max(high, known.get((tp.topic, tp.partition), 0))
                            done = tp.offset if tp.offset >= 0 else 0
                            lag += max(0, end - done)
                        row[label] = lag
                    except Exception as exc:
                        logger.debug("lag of %s unavailable: %s", label, exc)
                        row[label] = None
                self.series.append(row)
        finally:
            for consumer in consumers.values():
                consumer.close()

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for label in self.groups:
            values = [r[label] for r in self.series if r.get(label) is not None]
            out[label] = {
                "max": max(values, default=None),
                "last": values[-1] if values else None,
                "median": percentile(values, 50),
            }
        return out


class TopicWatcher(_Thread):
    """Reads a topic from the start with a throwaway group; records each decoded record's arrival
    and the time its producer wrote it (the record's timestamp).

    The arrival includes this watcher's own fetch: the local broker holds a fetch for most of
    ``fetch.wait.max.ms`` (500 ms) even when records are there (measured: 190 ms median, 330 ms
    at most, where Kafka answers at once), so ``latencies(written=True)`` is the stage's own
    latency and the arrival an upper bound that includes one local-broker fetch."""

    def __init__(
        self, *, settings: CommonSettings, topic: str, key_field: str, name: str = "watch"
    ) -> None:
        super().__init__()
        self.settings = settings
        self.topic = topic
        self.key_field = key_field
        self.name = name
        # key -> [(arrival ms, record, written ms)], in arrival order
        self.records: dict[str, list[tuple[int, dict[str, Any], int]]] = {}
        self.ready = threading.Event()

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        """True once the watcher reads every partition (start the load after this, or the first
        records are seen late and their latency is the watcher's start-up, not the pipeline's)."""
        return self.ready.wait(timeout_s)

    def loop(self) -> None:
        import uuid

        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        from platestream.kafka import make_consumer
        from platestream.serde import AvroSerde

        serde = AvroSerde(settings=self.settings)
        consumer = make_consumer(self.settings, f"bench-watch-{uuid.uuid4().hex[:8]}")
        # assign, not subscribe: no group join (seconds on the local broker) before reading.
        meta = consumer.list_topics(self.topic, timeout=10).topics[self.topic]
        consumer.assign(
            [TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in sorted(meta.partitions)]
        )
        try:
            while not self._stop.is_set():
                batch = consumer.consume(num_messages=500, timeout=0.2)
                self.ready.set()  # connected and fetched once
                for msg in batch:
                    if msg.error() is not None or msg.value() is None:
                        continue
                    seen = now_ms()
                    try:
                        rec = serde.decode(msg.value())
                    except Exception:
                        continue
                    written = msg.timestamp()[1]
                    self.records.setdefault(str(rec.get(self.key_field)), []).append(
                        (seen, rec, written)
                    )
        finally:
            consumer.close()

    def latencies(self, start_field: str = "received_at", *, written: bool = False) -> list[float]:
        """Per key, its first record's arrival (or, with ``written``, the time its producer
        wrote it) less ``start_field``."""
        out = []
        for arrivals in self.records.values():
            seen, rec, at = arrivals[0]
            end = at if written else seen
            if rec.get(start_field) and end > 0:
                out.append(float(end - int(rec[start_field])))
        return out
