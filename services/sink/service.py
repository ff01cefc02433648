"""Wiring of `platestream sink`: clients, consumers and the two projection loops in one process.

The ClickHouse loop and the S3 loop each own their consumer (own consumer group) and run in
their own thread, so a slow bucket never delays rows becoming queryable, and either can be run
alone (``--target``) to scale them apart. Wherever the S3 loop runs, the image-retention loop
(``image_retention.py``: tags the images of watchlist hits to be kept longer) runs beside it, in
its own consumer group.
"""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from typing import Any

from confluent_kafka import Consumer

from platestream.clickhouse import make_clickhouse
from platestream.dlq import DeadLetters
from platestream.gaps import ReadBack
from platestream.kafka import make_consumer, make_producer
from platestream.privacy.erasure import ErasureLedger
from platestream.privacy.follow import follow_ledger
from platestream.s3 import make_s3
from platestream.serde import AvroSerde
from platestream.state import StateFollower
from services.sink.batch import SinkStats
from services.sink.clickhouse_sink import ClickHouseSink, build_writers
from services.sink.erasure import ErasureLoop
from services.sink.image_retention import ImageRetention
from services.sink.s3_sink import S3Sink
from services.sink.settings import SinkSettings

logger = logging.getLogger(__name__)


def group_id(settings: SinkSettings, base: str) -> str:
    """Consumer group ids carry the topic prefix, so isolated tests never share a group."""
    return f"{settings.topic_prefix}{base}"


class _Metrics:
    def __init__(self, port: int, host: str) -> None:
        from prometheus_client import Counter

        from platestream.probes import start_metrics_server

        self.rows = Counter(
            "platestream_sink_rows_total", "Rows inserted into ClickHouse", ["table"]
        )
        self.dead = Counter(
            "platestream_sink_dead_letters_total", "Records sent to the sink dead-letter topic"
        )
        self.outages = Counter(
            "platestream_sink_outages_total", "Times ClickHouse became unavailable"
        )
        self._last: dict[str, int] = {}
        self._dead = 0
        self._out = 0
        # /health: 503 when a consume loop stops polling (container probes)
        start_metrics_server(port, addr=host)

    def update(self, stats: SinkStats) -> None:
        for table, n in stats.per_table.items():
            self.rows.labels(table=table).inc(n - self._last.get(table, 0))
            self._last[table] = n
        self.dead.inc(stats.dead_lettered - self._dead)
        self._dead = stats.dead_lettered
        self.outages.inc(stats.outages - self._out)
        self._out = stats.outages


def build_clickhouse_sink(
    settings: SinkSettings, stop: threading.Event, stack: ExitStack, **kwargs: Any
) -> ClickHouseSink:
    serde = AvroSerde(settings=settings)
    producer = make_producer(settings)
    stack.callback(producer.flush, 10.0)
    consumer = make_consumer(
        settings,
        group_id(settings, settings.sink_group_clickhouse),
        **{"partition.assignment.strategy": "range"},
    )
    stack.callback(consumer.close)
    read_back = ReadBack(settings)
    stack.callback(read_back.close)
    client = make_clickhouse(
        settings,
        database="default",
        send_receive_timeout=30,
        compress=False,
        autogenerate_session_id=False,
    )
    stack.callback(client.close)
    return ClickHouseSink(
        settings=settings,
        consumer=consumer,
        writers=build_writers(client, settings.clickhouse_database),
        serde=serde,
        dead_letters=DeadLetters(stage="sink", producer=producer, serde=serde, settings=settings),
        producer=producer,
        stop=stop,
        read_back=read_back,
        **kwargs,
    )


def _s3_loop_parts(settings: SinkSettings, stack: ExitStack, group: str) -> dict[str, Any]:
    """What each of the sink's S3 loops is built from: its consumer group, a producer for dead
    letters (and read-backs), the bucket client; closed by ``stack``."""
    serde = AvroSerde(settings=settings)
    producer = make_producer(settings)
    stack.callback(producer.flush, 10.0)
    consumer = make_consumer(settings, group_id(settings, group))
    stack.callback(consumer.close)
    return {
        "settings": settings,
        "consumer": consumer,
        "s3": make_s3(settings),
        "serde": serde,
        "dead_letters": DeadLetters(
            stage="sink", producer=producer, serde=serde, settings=settings
        ),
        "producer": producer,
    }


def build_s3_sink(
    settings: SinkSettings,
    stop: threading.Event,
    stack: ExitStack,
    erasures: ErasureLedger | None = None,
) -> S3Sink:
    parts = _s3_loop_parts(settings, stack, settings.sink_group_s3)
    read_back = ReadBack(settings)
    stack.callback(read_back.close)
    return S3Sink(**parts, stop=stop, read_back=read_back, erasures=erasures)


def build_erasure_ledger(
    settings: SinkSettings, stack: ExitStack
) -> tuple[ErasureLedger, StateFollower | None]:
    """The erasures so far (read to the end before any projection loop starts) and its follower."""
    consumer = Consumer(StateFollower.consumer_config(settings.kafka_common()))
    stack.callback(consumer.close)
    return follow_ledger(settings, consumer, AvroSerde(settings=settings))


def build_erasure_loop(
    settings: SinkSettings,
    stop: threading.Event,
    stack: ExitStack,
    ledger: ErasureLedger,
    settle: Any = None,
) -> ErasureLoop:
    """The loop that carries out each erasure (ClickHouse rows, then the images they name)."""
    serde = AvroSerde(settings=settings)
    producer = make_producer(settings)
    stack.callback(producer.flush, 10.0)
    consumer = make_consumer(
        settings, group_id(settings, settings.sink_group_erasure), **{"enable.auto.commit": False}
    )
    stack.callback(consumer.close)
    client = make_clickhouse(
        settings, database=settings.clickhouse_database, send_receive_timeout=120, compress=False
    )
    stack.callback(client.close)
    return ErasureLoop(
        settings=settings,
        consumer=consumer,
        clickhouse=client,
        s3=make_s3(settings),
        serde=serde,
        dead_letters=DeadLetters(stage="sink", producer=producer, serde=serde, settings=settings),
        producer=producer,
        ledger=ledger,
        stop=stop,
        settle=settle,
    )


def _follow(follower: StateFollower | None, stop: threading.Event) -> None:
    """Keep the ledger current: new erasures reach every loop of this process within 0.5 s."""
    while follower is not None and not stop.wait(0.5):
        follower.poll()


def build_image_retention(
    settings: SinkSettings, stop: threading.Event, stack: ExitStack
) -> ImageRetention:
    parts = _s3_loop_parts(settings, stack, settings.sink_group_image_retention)
    return ImageRetention(**parts, stop=stop)


def run(settings: SinkSettings, stop: threading.Event, targets: set[str] | None = None) -> None:
    """Run the chosen projection loops until ``stop`` is set; a loop that dies stops the others."""
    targets = targets or settings.targets()
    metrics = (
        _Metrics(settings.sink_metrics_port, settings.metrics_host)
        if settings.sink_metrics_port > 0
        else None
    )
    errors: list[BaseException] = []
    with ExitStack() as stack:
        loops: list[tuple[str, Any]] = []
        ledger, follower = build_erasure_ledger(settings, stack)
        loops.append(("erasure-ledger", lambda: _follow(follower, stop)))
        if "clickhouse" in targets:
            sink = build_clickhouse_sink(
                settings,
                stop,
                stack,
                on_flush=metrics.update if metrics else None,
                erasures=ledger,
            )
            loops.append(("clickhouse", sink.run))
            erasure = build_erasure_loop(settings, stop, stack, ledger, settle=sink.settle)
            loops.append(("erasure", erasure.run))
        if "s3" in targets:
            loops.append(("s3", build_s3_sink(settings, stop, stack, erasures=ledger).run))
            loops.append(("image-retention", build_image_retention(settings, stop, stack).run))

        def guarded(name: str, fn: Any) -> None:
            try:
                fn()
            except BaseException as exc:
                logger.exception("sink loop %s failed", name)
                errors.append(exc)
                stop.set()

        threads = [
            threading.Thread(target=guarded, args=(n, f), name=f"sink-{n}", daemon=True)
            for n, f in loops
        ]
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)
    if errors:
        raise errors[0]
