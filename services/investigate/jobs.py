"""`platestream investigate`: scheduled analyses over the stored passages (convoys, overstays).

Runs once and exits (for cron or a Kubernetes CronJob), or with ``--every-s`` repeats until
SIGTERM/SIGINT, each run over the window that ends at that moment. One JSON object per convoy or
overstay on stdout (convoys: or appended to ``--out``), so the result can be piped or shipped like
a log; ``overstays --emit`` also writes each overstay to anpr.anomalies.v1 for notify
(services/investigate/overstays.py).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from platestream.runtime import repeat

logger = logging.getLogger(__name__)

app = typer.Typer(help="Scheduled investigations over the stored passages.", no_args_is_help=True)

HOUR_MS = 3_600_000


def convoy_run(
    client: Any,
    *,
    until: int,
    hours: int,
    within_s: int,
    min_occasions: int,
    gap_s: int,
    limit: int,
    min_cameras: int = 2,
    min_share: float = 0.5,
) -> list[dict[str, Any]]:
    """The convoys of the window ``hours`` long ending at ``until``, each with its window."""
    from services.api.investigations import all_convoys

    since = until - hours * HOUR_MS
    rows = all_convoys(
        client,
        since=since,
        until=until,
        within_ms=within_s * 1000,
        gap_ms=gap_s * 1000,
        min_occasions=min_occasions,
        min_cameras=min_cameras,
        min_share=min_share,
        limit=limit,
    )
    return [{"since": since, "until": until, **r} for r in rows]


@app.command("convoys")
def convoys(
    hours: Annotated[int, typer.Option(min=1, max=24 * 366, help="Window length.")] = 24 * 7,
    until: Annotated[
        datetime | None, typer.Option(help="End of the window (UTC); default: now.")
    ] = None,
    within_s: Annotated[int, typer.Option(min=1, max=3600, help="Seconds apart at a camera.")] = 60,
    min_occasions: Annotated[int, typer.Option(min=1, help="Separate trips needed.")] = 3,
    min_cameras: Annotated[
        int, typer.Option(min=1, help="Same cameras passed together on one trip.")
    ] = 2,
    min_share: Annotated[
        float,
        typer.Option(
            min=0.0, max=1.0, help="Occasions over the trips of the less travelled plate."
        ),
    ] = 0.5,
    gap_s: Annotated[int, typer.Option(min=60, help="A longer gap ends a trip.")] = 1800,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    out: Annotated[Path | None, typer.Option(help="Append JSON lines here, not stdout.")] = None,
    every_s: Annotated[
        float, typer.Option(min=0, help="Repeat every this many seconds (0: run once).")
    ] = 0,
) -> None:
    """Find every pair of plates travelling together in a window, ranked by support."""
    from platestream.clickhouse import make_clickhouse
    from platestream.settings import CommonSettings, load
    from platestream.timeutil import now_ms, to_ms

    settings = load(CommonSettings)
    client = make_clickhouse(settings)

    def once() -> None:
        end = to_ms(until) if until is not None else now_ms()
        rows = convoy_run(
            client,
            until=end,
            hours=hours,
            within_s=within_s,
            min_occasions=min_occasions,
            gap_s=gap_s,
            limit=limit,
            min_cameras=min_cameras,
            min_share=min_share,
        )
        lines = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
        if out is None:
            typer.echo(lines, nl=False)
        else:
            with out.open("a", encoding="utf-8") as fh:
                fh.write(lines)
        logger.info("convoys: %d pairs in the %d h before %d", len(rows), hours, end)

    repeat(once, every_s)


@app.command("overstays")
def overstays(
    limit_s: Annotated[float, typer.Option(min=1, help="A longer stay is an overstay.")] = 14_400,
    site: Annotated[str | None, typer.Option(help="One site; default: every site.")] = None,
    hours: Annotated[int, typer.Option(min=1, max=24 * 366, help="Entries this far back.")] = 48,
    until: Annotated[
        datetime | None, typer.Option(help="Now, for the stays still open (UTC); default: now.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 1000,
    emit: Annotated[
        bool,
        typer.Option(
            "--emit",
            help="Also write each overstay to anpr.anomalies.v1 (kind overstay) for notify.",
        ),
    ] = False,
    every_s: Annotated[
        float, typer.Option(min=0, help="Repeat every this many seconds (0: run once).")
    ] = 0,
    quiet: Annotated[
        bool, typer.Option("--quiet", help="Print nothing (plates are personal data in logs).")
    ] = False,
) -> None:
    """Print the stays longer than the limit (closed, or still open now), one JSON line each;
    with --emit also produce them as anomaly events (the same stay keeps the same id)."""
    from platestream.clickhouse import make_clickhouse
    from platestream.settings import CommonSettings, load
    from platestream.timeutil import now_ms, to_ms
    from services.api.investigations import overstays as query

    settings = load(CommonSettings)
    client = make_clickhouse(settings)

    def once() -> None:
        end = to_ms(until) if until is not None else now_ms()
        rows = query(
            client,
            since=end - hours * HOUR_MS,
            until=end,
            now=end,
            limit_s=limit_s,
            site=site,
            limit=limit,
        )
        if not quiet:
            typer.echo("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows), nl=False)
        if emit:
            from services.investigate.overstays import emit as produce
            from services.investigate.overstays import overstay_records

            records = overstay_records(client, rows, limit_s=limit_s, emitted_at=now_ms())
            produce(settings, records)
            logger.info("overstays: %d of %d emitted as anomalies", len(records), len(rows))

    repeat(once, every_s)
