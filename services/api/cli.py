"""`platestream api` (serve the API and console) and `platestream bench api`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The HTTP API and web console.", invoke_without_command=True, no_args_is_help=False
)


@app.callback()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str | None, typer.Option(help="Bind address (default PLATESTREAM_API_HOST).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default PLATESTREAM_API_PORT).")] = None,
) -> None:
    """Serve the API and the web console (uvicorn; Ctrl+C stops)."""
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from platestream.runtime import setup_logging
    from platestream.settings import load
    from services.api.logctx import install_request_id_filter
    from services.api.main import create_app
    from services.api.settings import ApiSettings

    settings = load(ApiSettings)
    setup_logging(settings.log_level, settings.log_json)
    install_request_id_filter()
    uvicorn.run(
        create_app(settings),
        host=host or settings.api_host,
        port=port or settings.api_port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
    )


@app.command("openapi")
def openapi(
    out: Annotated[
        Path | None, typer.Option(help="Write the schema here instead of stdout.")
    ] = None,
) -> None:
    """Print the OpenAPI schema (no server needed)."""
    import json

    from services.api.main import create_app
    from services.api.settings import ApiSettings

    spec = create_app(ApiSettings(), producer=object(), clickhouse=object(), s3=object()).openapi()
    text = json.dumps(spec, indent=1)
    if out:
        out.write_text(text, encoding="utf-8")
    else:
        typer.echo(text)


def register_bench(bench_app: typer.Typer) -> None:
    @bench_app.command("api")
    def bench_api(
        rows: Annotated[
            str,
            typer.Option(help="Comma-separated event counts to measure at, e.g. 1000000,10000000."),
        ] = "1000000",
        queries: Annotated[int, typer.Option(help="Searches per kind and size.")] = 200,
        concurrency: Annotated[
            int, typer.Option(help="Concurrent clients for the throughput run.")
        ] = 8,
        duration: Annotated[float, typer.Option(help="Seconds of the throughput run.")] = 10.0,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the figures as JSON.")
        ] = None,
        keep: Annotated[bool, typer.Option(help="Keep the generated database.")] = False,
        runs: Annotated[
            int, typer.Option(help="Latency runs per size; medians of their p50/p99 are reported.")
        ] = 1,
        api_replicas: Annotated[
            int,
            typer.Option(
                min=1,
                help="API processes the concurrent clients are spread over (the Kubernetes "
                "deployment runs 2 replicas behind one Service); latency runs use the first.",
            ),
        ] = 1,
        compact: Annotated[
            bool,
            typer.Option(
                help="Merge each search table into one part before searching, as the daily "
                "`platestream db compact` leaves them; the merge times go into the JSON.",
            ),
        ] = False,
    ) -> None:
        """Search latency p50/p99 at each row count and concurrent-request throughput of the API."""
        from services.api.bench import run_bench

        run_bench(
            rows=[int(r) for r in rows.split(",") if r.strip()],
            queries=queries,
            concurrency=concurrency,
            duration=duration,
            json_out=json_out,
            api_replicas=api_replicas,
            keep=keep,
            runs=runs,
            compact=compact,
        )

    @bench_app.command("search-ab")
    def bench_search_ab(
        ref: Annotated[str, typer.Option(help="Git ref whose search to compare against.")],
        rows: Annotated[int, typer.Option(help="Events in each side's table.")] = 1_000_000,
        blocks: Annotated[int, typer.Option(help="Alternating blocks per query kind.")] = 6,
        per_block: Annotated[int, typer.Option(help="Queries per block.")] = 8,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the figures as JSON.")
        ] = None,
        keep: Annotated[bool, typer.Option(help="Keep both generated databases.")] = False,
        compact: Annotated[
            bool,
            typer.Option(
                help="Merge each side's search tables into one part before the queries, as the "
                "daily `platestream db compact` leaves them (both sides' merges are let finish "
                "either way)."
            ),
        ] = True,
    ) -> None:
        """This tree's search against a git ref's on the same rows, interleaved (same load for both)."""
        from services.api.bench_ab import run_ab

        run_ab(
            ref=ref,
            rows=rows,
            blocks=blocks,
            per_block=per_block,
            json_out=json_out,
            keep=keep,
            compact=compact,
        )
