"""`platestream anomalies` (the live clone detector) and `platestream bench anomalies`."""

from __future__ import annotations

import logging
import threading
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from services.investigate.processor import AnomalyProcessor
    from services.investigate.settings import AnomalySettings

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Cloned and misread plates: one plate at two cameras faster than a vehicle can travel.",
    invoke_without_command=True,
)


def build_processor(settings: AnomalySettings, stack: ExitStack) -> AnomalyProcessor:
    """Wire the processor with its Kafka clients; clients are closed by ``stack``."""
    from confluent_kafka import Consumer

    from platestream import topics as catalogue
    from platestream.gaps import ReadBack
    from platestream.kafka import make_consumer, make_producer
    from platestream.serde import AvroSerde
    from platestream.state import StateFollower
    from services.enrich.enrichment import Cameras
    from services.investigate.processor import AnomalyProcessor

    serde = AvroSerde(settings=settings)
    producer = make_producer(settings, **{"linger.ms": settings.anomaly_linger_ms})
    consumer = make_consumer(settings, f"{settings.topic_prefix}{settings.anomaly_group_id}")
    stack.callback(consumer.close)
    state_consumer = Consumer(StateFollower.consumer_config(settings.kafka_common()))
    stack.callback(state_consumer.close)
    cameras = Cameras()
    read_back = ReadBack(settings)
    stack.callback(read_back.close)
    state = StateFollower(
        consumer=state_consumer,
        serde=serde,
        tables={settings.topic(catalogue.CAMERAS.name): cameras.apply},
    )
    return AnomalyProcessor(
        settings=settings,
        consumer=consumer,
        producer=producer,
        serde=serde,
        state=state,
        cameras=cameras,
        read_back=read_back,
    )


@app.callback()
def run(ctx: typer.Context) -> None:
    """Run the clone detector until SIGTERM/SIGINT."""
    if ctx.invoked_subcommand is not None:
        return
    from platestream.runtime import install_stop_handlers
    from platestream.settings import load
    from services.investigate.settings import AnomalySettings

    settings = load(AnomalySettings)
    stop = threading.Event()
    install_stop_handlers(stop)
    with ExitStack() as stack:
        processor = build_processor(settings, stack)
        if settings.anomaly_metrics_port:
            from services.investigate.metrics import serve_metrics

            serve_metrics(processor, settings.anomaly_metrics_port, settings.metrics_host)
        logger.info(
            "anomalies starting (group %s%s)", settings.topic_prefix, settings.anomaly_group_id
        )
        processor.run(stop)
        logger.info("anomalies stopped: %s", processor.stats.as_dict())


def register_bench(bench_app: typer.Typer) -> None:
    @bench_app.command("anomalies")
    def bench_anomalies(
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the figures as JSON here.")
        ] = None,
        events: Annotated[int, typer.Option(help="Plate events through the processor.")] = 300_000,
        plates: Annotated[int, typer.Option(help="Distinct plates in the traffic.")] = 200_000,
        broker: Annotated[
            bool, typer.Option(help="Also run through Kafka (the stack, or an ephemeral one).")
        ] = True,
        backlog: Annotated[int, typer.Option(help="Plate events drained through Kafka.")] = 100_000,
        clones: Annotated[int, typer.Option(help="Planted clones for the latency.")] = 200,
    ) -> None:
        """Plate events/s through the clone detector in one process (decode, check, emit)."""
        from services.investigate.bench import run_bench

        run_bench(
            json_out=json_out,
            events=events,
            plates=plates,
            broker=broker,
            backlog=backlog,
            clones=clones,
        )

    @bench_app.command("investigations")
    def bench_investigations(
        rows: Annotated[
            str, typer.Option(help="Comma-separated table sizes (plate_events rows).")
        ] = "1000000,10000000",
        queries: Annotated[int, typer.Option(help="Queries per endpoint and size.")] = 20,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the figures as JSON here.")
        ] = None,
    ) -> None:
        """Latency of the investigation endpoints at table sizes, on an ephemeral stack."""
        from services.investigate.bench_queries import run_bench

        sizes = [int(x) for x in rows.split(",") if x.strip()]
        run_bench(rows=sizes, queries=queries, json_out=json_out)

    @bench_app.command("city")
    def bench_city(
        seed: Annotated[int, typer.Option(help="Seed of the simulated month.")] = 1,
        occasions: Annotated[
            str, typer.Option(help="Comma-separated convoy thresholds (separate trips) to score.")
        ] = "4,6,8",
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the figures as JSON here.")
        ] = None,
    ) -> None:
        """A simulated month of a 37-camera city: precision and recall of each detector."""
        from services.investigate.bench_sim import run_bench

        ks = [int(x) for x in occasions.split(",") if x.strip()]
        run_bench(json_out=json_out, seed=seed, occasions=ks)
