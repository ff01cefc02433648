"""`platestream db`: apply and inspect the ClickHouse migrations; compact the search tables."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="ClickHouse schema: versioned migrations.", no_args_is_help=True)

DatabaseOpt = Annotated[
    str | None,
    typer.Option("--database", help="Database (default PLATESTREAM_CLICKHOUSE_DATABASE)."),
]


def _client_and_settings(**client_options):  # type: ignore[no-untyped-def]
    from platestream.clickhouse import make_clickhouse
    from platestream.settings import load
    from services.sink.settings import SinkSettings

    settings = load(SinkSettings)
    return make_clickhouse(settings, database="default", **client_options), settings


@app.command()
def migrate(database: DatabaseOpt = None) -> None:
    """Create the database if missing and apply every pending migration (idempotent)."""
    from services.sink.migrations import migrate as run_migrations

    client, settings = _client_and_settings()
    applied = run_migrations(client, settings, database=database)
    db = database or settings.clickhouse_database
    if applied:
        for mig in applied:
            typer.echo(f"applied  {mig.version:03d}_{mig.name}  -> {db}")
    else:
        typer.echo(f"{db}: up to date")


@app.command()
def status(database: DatabaseOpt = None) -> None:
    """List the migrations, applied or pending."""
    from services.sink.migrations import status as migration_status

    client, settings = _client_and_settings()
    for row in migration_status(client, settings, database=database):
        changed = "  (file changed since applied)" if row["changed"] else ""
        typer.echo(
            f"{row['version']:03d}_{row['name']:20} {row['state']:8} {row['applied_at'] or ''}{changed}"
        )


@app.command()
def compact(
    database: DatabaseOpt = None,
    timeout_s: Annotated[
        int, typer.Option("--timeout-s", help="Longest wait for one table's merge.")
    ] = 3600,
    every_s: Annotated[
        float,
        typer.Option(
            "--every-s", min=0, help="Run again every this many seconds until stopped (0: once)."
        ),
    ] = 0,
) -> None:
    """Merge each search table into one part, so a lookup reads one key range per table (daily,
    off-peak: docs/deploy.md, 3.6)."""
    from platestream.runtime import repeat
    from services.sink.compaction import compact as run_compaction

    client, settings = _client_and_settings(send_receive_timeout=timeout_s)
    db = database or settings.clickhouse_database

    def once() -> None:
        for row in run_compaction(client, db):
            typer.echo(
                f"{db}.{row.table:28} {row.parts_before:4d} -> {row.parts_after:d} parts  "
                f"{row.seconds:7.1f} s"
            )

    repeat(once, every_s)
