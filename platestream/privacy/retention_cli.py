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
    if settings.privacy_seal_topics:
        from platestream.privacy.retention import subject_key_report
        from platestream.privacy.shredding import key_bucket, shredder_for

        keys = shredder_for(settings).keys
        reports.append(subject_key_report(make_s3(settings), key_bucket(settings), keys=keys))
    if as_json:
        for r in reports:
            typer.echo(json.dumps(r.view(), sort_keys=True))
    else:
        typer.echo(format_report(reports))
    if strict and any(r.flag for r in reports):
        raise typer.Exit(1)


@app.command("tag-untagged")
def tag_untagged(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be tagged; change nothing.")
    ] = False,
    limit: Annotated[
        int | None, typer.Option(min=1, help="Stop after looking at this many objects.")
    ] = None,
) -> None:
    """Tag retention=short every image stored before images carried retention tags.

    Then replay the image-retention loop (reset the consumer group
    platestream-sink-image-retention to the start of anpr.plate-events.v1 while the sink is
    stopped) so that the images of watchlist hits are tagged hit again."""
    from dataclasses import asdict

    from platestream.privacy.retention_tags import tag_untagged as run
    from platestream.s3 import make_s3
    from platestream.settings import CommonSettings, load

    settings = load(CommonSettings)
    counts = run(make_s3(settings), settings.s3_bucket, dry_run=dry_run, limit=limit)
    typer.echo(json.dumps({"bucket": settings.s3_bucket, "dry_run": dry_run, **asdict(counts)}))
