"""`platestream enrich` (the hot path) and `platestream bench enrich`."""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from services.enrich.processor import EnrichProcessor
    from services.enrich.settings import EnrichSettings

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Deduplicate passages, match watchlists, enrich; emit plate events and alerts.",
    invoke_without_command=True,
)


def build_processor(settings: EnrichSettings, stack: ExitStack) -> EnrichProcessor:
    """Wire the processor with its Kafka clients; clients are closed by ``stack``."""
    from confluent_kafka import Consumer

    from platestream import topics as catalogue
    from platestream.gaps import ReadBack
    from platestream.kafka import make_consumer, make_producer, read_offsets
    from platestream.serde import AvroSerde
    from services.enrich.bolo import Watchlists
    from services.enrich.enrichment import Cameras
    from services.enrich.processor import EnrichProcessor
    from services.enrich.state import StateFollower

    serde = AvroSerde(settings=settings)
    producer = make_producer(settings, **{"linger.ms": settings.enrich_linger_ms})
    consumer = make_consumer(
        settings,
        f"{settings.topic_prefix}{settings.enrich_group_id}",
        **{"fetch.wait.max.ms": settings.enrich_fetch_wait_ms},
    )
    stack.callback(consumer.close)
    state_consumer = Consumer(StateFollower.consumer_config(settings.kafka_common()))
    stack.callback(state_consumer.close)
    events_topic = settings.topic(catalogue.PLATE_EVENTS.name)
    fetcher: dict[str, Any] = {}
    read_back = ReadBack(settings)  # skipped offset ranges (platestream/gaps.py)
    stack.callback(read_back.close)

    def fetch_event(partition: int, offset: int) -> dict[str, Any] | None:
        """A corrected event that is no longer in memory, read at its offset."""
        if "c" not in fetcher:  # one assign-only consumer, made on first need
            fetcher["c"] = Consumer(StateFollower.consumer_config(settings.kafka_common()))
            stack.callback(fetcher["c"].close)
        found = read_offsets(fetcher["c"], events_topic, partition, range(offset, offset + 1), 15.0)
        return serde.decode(found[0].value()) if found else None

    watchlists, cameras = Watchlists(), Cameras()
    state = StateFollower(
        consumer=state_consumer,
        serde=serde,
        tables={
            settings.topic(catalogue.BOLO.name): watchlists.apply,
            settings.topic(catalogue.CAMERAS.name): cameras.apply,
        },
    )
    processor = EnrichProcessor(
        settings=settings,
        consumer=consumer,
        producer=producer,
        serde=serde,
        state=state,
        watchlists=watchlists,
        cameras=cameras,
        fetch_event=fetch_event,
        read_back=read_back,
    )
    if settings.enrich_lookout:
        from services.enrich.lookout import AlertLookout

        lookout_consumer = Consumer(StateFollower.consumer_config(settings.kafka_common()))
        stack.callback(lookout_consumer.close)
        processor.lookout = AlertLookout(
            settings=settings,
            consumer=lookout_consumer,
            serde=serde,
            watchlists=watchlists,
            cameras=cameras,
            reads_topic=processor.reads_topic,
            camera_events_topic=processor.camera_events_topic,
            loop_positions=processor.offsets.next_offsets,
            loop_times=lambda: processor.handled,
            alert=processor.alerts_out.lookout,
        )
    return processor


def run_processor(processor: EnrichProcessor, stop: threading.Event) -> None:
    """The loop, and its lookout in a thread of its own while the loop runs."""
    lookout = processor.lookout
    if lookout is None:
        processor.run(stop)
        return
    done = threading.Event()
    thread = threading.Thread(target=lookout.run, args=(done,), name="alert-lookout", daemon=True)
    thread.start()
    try:
        processor.run(stop)
    finally:
        done.set()
        thread.join(10)


@app.callback()
def run(ctx: typer.Context) -> None:
    """Run the enrich stage until SIGTERM/SIGINT."""
    if ctx.invoked_subcommand is not None:
        return
    from platestream.runtime import install_stop_handlers
    from platestream.settings import load
    from services.enrich.settings import EnrichSettings

    settings = load(EnrichSettings)
    stop = threading.Event()
    install_stop_handlers(stop)
    with ExitStack() as stack:
        processor = build_processor(settings, stack)
        if settings.enrich_metrics_port:
            from services.enrich.metrics import serve_metrics

            serve_metrics(processor, settings.enrich_metrics_port, settings.enrich_metrics_host)
        logger.info("enrich starting (group %s%s)", settings.topic_prefix, settings.enrich_group_id)
        run_processor(processor, stop)
        logger.info("enrich stopped: %s", processor.stats.as_dict())


def register_bench(bench_app: typer.Typer) -> None:
    @bench_app.command("enrich")
    def bench_enrich(
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the figures as JSON here.")
        ] = None,
        reads: Annotated[
            int, typer.Option(help="Reads through the in-process pipeline.")
        ] = 200_000,
        entries: Annotated[int, typer.Option(help="Watchlist entries loaded.")] = 100_000,
        broker: Annotated[
            bool, typer.Option(help="Also measure through the broker (needs the stack).")
        ] = True,
        broker_reads: Annotated[int, typer.Option(help="Reads through the broker.")] = 100_000,
        alerts: Annotated[int, typer.Option(help="Alerts for the latency figure.")] = 200,
    ) -> None:
        """Sustained reads/s through dedup + BOLO + enrichment, serde cost, alert latency."""
        from services.enrich.bench import run_bench

        run_bench(
            json_out=json_out,
            reads=reads,
            entries=entries,
            broker=broker,
            broker_reads=broker_reads,
            alerts=alerts,
        )
