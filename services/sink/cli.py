"""`platestream sink`: run the ClickHouse and S3 projections; `platestream bench sink`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Project the event log into ClickHouse (tables) and S3 (images).",
    invoke_without_command=True,
)

TargetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target", "-t", help="clickhouse and/or s3 (repeat); default PLATESTREAM_SINK_TARGETS."
    ),
]


@app.callback()
def sink(ctx: typer.Context, target: TargetOpt = None) -> None:
    """Run the sink until SIGTERM/Ctrl+C (both loops unless --target narrows it)."""
    if ctx.invoked_subcommand is not None:
        return
    import threading

    from platestream.runtime import install_stop_handlers
    from platestream.settings import load
    from services.sink import service
    from services.sink.settings import SinkSettings

    settings = load(SinkSettings)
    targets = set(target) if target else settings.targets()
    if not targets <= {"clickhouse", "s3"}:
        raise typer.BadParameter("--target must be clickhouse or s3")
    stop = threading.Event()
    install_stop_handlers(stop)
    service.run(settings, stop, targets)


def register_bench(bench_app: typer.Typer) -> None:
    @bench_app.command("sink")
    def bench_sink(
        rows: Annotated[
            int, typer.Option(help="Records for the sustained-throughput run.")
        ] = 200_000,
        rate: Annotated[int, typer.Option(help="Reads/s for the freshness run.")] = 2_000,
        seconds: Annotated[float, typer.Option(help="Duration of the freshness run.")] = 20.0,
        search_rows: Annotated[
            str, typer.Option(help="Comma-separated table sizes for plate search.")
        ] = "1000000,10000000",
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Write the results here.")
        ] = None,
        keep: Annotated[bool, typer.Option(help="Keep the bench database and topics.")] = False,
    ) -> None:
        """Sink throughput (rows/s), freshness p50/p99 produce->queryable, plate-search latency."""
        from services.sink.bench import run_bench

        sizes = [int(s) for s in search_rows.split(",") if s.strip()]
        run_bench(
            rows=rows, rate=rate, seconds=seconds, search_rows=sizes, json_path=json_path, keep=keep
        )

    @bench_app.command("erasure-filter")
    def bench_erasure_filter(
        reads: Annotated[int, typer.Option(help="Generated reads (and their passages).")] = 100_000,
        erasures: Annotated[int, typer.Option(help="Plate erasures in the ledger.")] = 10,
        repeats: Annotated[int, typer.Option(help="Passes of each; the median is kept.")] = 5,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Write the results here.")
        ] = None,
    ) -> None:
        """CPU per record of the sink's erasure check: an empty ledger against a filled one."""
        from platestream.benchutil import write_json
        from services.sink.bench_erasure import run

        result = run(reads=reads, erasures=erasures, repeats=repeats)
        write_json(json_path, result)
        typer.echo(json.dumps(result, indent=2))
