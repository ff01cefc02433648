"""`platestream retention report`: per store, the oldest record against its retention policy."""

from __future__ import annotations

import json
from typing import Annotated

import typer

app = typer.Typer(help="Retention of personal data in every store.", no_args_is_help=True)


@app.command("report")
def report(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per store.")] = False,
    strict: Annotated[
        bool, typer.Option(help="Exit 1 when a store has no policy or is past it.")
    ] = False,
) -> None:
    """List each topic, table and the bucket: policy, oldest record, when it is due, and flags."""
    from platestream.clickhouse import make_clickhouse
    from platestream.privacy.retention import (
        clickhouse_reports,
        format_report,
        kafka_reports,
        s3_reports,
    )
    from platestream.s3 import make_s3
    from platestream.settings import CommonSettings, load

    settings = load(CommonSettings)
    reports = [
        *kafka_reports(settings),
        *clickhouse_reports(make_clickhouse(settings, autogenerate_session_id=False)),
        *s3_reports(make_s3(settings), settings.s3_bucket),
    ]
    if as_json:
        for r in reports:
            typer.echo(json.dumps(r.view(), sort_keys=True))
    else:
        typer.echo(format_report(reports))
    if strict and any(r.flag for r in reports):
        raise typer.Exit(1)
