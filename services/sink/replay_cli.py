"""`platestream replay`: re-consume a range of the event log into fresh ClickHouse tables, or rebuild."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

app = typer.Typer(
    help="Replay a range of the event log into fresh ClickHouse tables (--rebuild: every projection from offset 0).",
    invoke_without_command=True,
)


def parse_time(text: str) -> int:
    """ISO 8601 (UTC when no offset) or epoch milliseconds -> epoch ms."""
    text = text.strip()
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO time or epoch ms: {text!r}") from exc
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


@app.callback()
def replay(
    ctx: typer.Context,
    from_: Annotated[
        str | None, typer.Option("--from", help="Start time (ISO 8601 UTC or epoch ms).")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="End time, inclusive.")] = None,
    camera: Annotated[str | None, typer.Option(help="Only this camera's records.")] = None,
    from_offset: Annotated[
        int | None, typer.Option(help="First offset, on every selected partition.")
    ] = None,
    to_offset: Annotated[
        int | None, typer.Option(help="Last offset (inclusive), on every selected partition.")
    ] = None,
    partition: Annotated[
        list[int] | None, typer.Option(help="Only these partitions (repeat).")
    ] = None,
    table: Annotated[
        list[str] | None, typer.Option(help="Only these tables (repeat); default all.")
    ] = None,
    target: Annotated[str, typer.Option(help="Where to replay to (clickhouse).")] = "clickhouse",
    into_database: Annotated[
        str | None, typer.Option(help="Target database; default <database>_replay.")
    ] = None,
    rebuild: Annotated[
        bool, typer.Option(help="Drop every projection and rebuild it from offset 0.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask before dropping tables.")] = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Replay by time (--from/--to, via the ClickHouse event index) or by offset, or --rebuild."""
    if ctx.invoked_subcommand is not None:
        return
    if target != "clickhouse":
        raise typer.BadParameter("only --target clickhouse is supported")
    import threading

    from platestream.clickhouse import make_clickhouse
    from platestream.runtime import install_stop_handlers
    from platestream.serde import AvroSerde
    from platestream.settings import load
    from services.sink import replay as rp
    from services.sink.clickhouse_sink import build_writers
    from services.sink.settings import SinkSettings

    settings = load(SinkSettings)
    by_time = from_ is not None or to is not None
    if rebuild and (by_time or from_offset is not None or to_offset is not None):
        raise typer.BadParameter("--rebuild replays everything; it takes no range")
    if not rebuild and not by_time and from_offset is None and to_offset is None:
        raise typer.BadParameter("give --from/--to, --from-offset/--to-offset, or --rebuild")
    if by_time and (from_offset is not None or to_offset is not None):
        raise typer.BadParameter("choose a time range or an offset range, not both")
    source_db = settings.clickhouse_database
    target_db = into_database or (source_db if rebuild else f"{source_db}_replay")
    if target_db == source_db and not rebuild:
        raise typer.BadParameter(
            "replaying into the live database needs --rebuild (or another --into-database)"
        )
    if rebuild and not yes:
        typer.confirm(
            f"Drop every projection in {target_db} and rebuild it from offset 0?", abort=True
        )

    client = make_clickhouse(settings, database="default", send_receive_timeout=120)
    tables = rp.select_tables(table, camera)
    flt = rp.Filter()
    consumer = rp.replay_consumer(settings)
    try:
        if by_time:
            from_ms = parse_time(from_) if from_ else 0
            to_ms = parse_time(to) if to else 2**62
            # Find offsets in the live index before the target (maybe the same db) is touched.
            ranges = rp.ranges_by_time(client, source_db, settings, tables, from_ms, to_ms, camera)
            flt = rp.Filter(from_ms, to_ms, camera)
        else:
            ranges = rp.ranges_by_offset(
                settings, consumer, tables, from_offset, to_offset, partition
            )
            flt = rp.Filter(camera=camera)
        rp.prepare_target(client, settings, target_db, drop=True)
        stop = threading.Event()
        install_stop_handlers(stop)
        replayer = rp.Replayer(
            settings=settings,
            consumer=consumer,
            writers=build_writers(client, target_db),
            serde=AvroSerde(settings=settings),
            stop=stop,
        )
        if progress:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )

            columns = (
                TextColumn("[bold]replay[/] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]:>9,.0f} rec/s"),
                TimeElapsedColumn(),
            )
            with Progress(*columns, transient=False) as bar:
                task = bar.add_task(f"-> {target_db}", total=None, rate=0.0)
                started = [0.0]

                def update(done: int, total: int) -> None:
                    import time

                    now = time.monotonic()
                    if not started[0]:
                        started[0] = now
                    rate = done / (now - started[0]) if now > started[0] else 0.0
                    bar.update(task, completed=done, total=max(total, done) or None, rate=rate)

                stats = replayer.run(ranges, flt, update)
        else:
            stats = replayer.run(ranges, flt)
    finally:
        consumer.close()
    rate = stats.records / stats.seconds if stats.seconds else 0.0
    typer.echo(
        f"replayed {stats.records} records from {len(ranges)} partitions into {target_db} in {stats.seconds:.1f}s "
        f"({rate:,.0f} rec/s): inserted {stats.inserted}, skipped {stats.skipped}, rejected {stats.rejected}"
    )
    for name, n in sorted(stats.per_table.items()):
        typer.echo(f"  {name:18} {n}")
