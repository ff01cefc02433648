"""`platestream health`: camera online/offline table (faust-streaming worker)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Track camera health and publish offline/online statuses.", invoke_without_command=True
)


@app.callback()
def run(ctx: typer.Context) -> None:
    """Run camera health until SIGTERM/SIGINT."""
    if ctx.invoked_subcommand is not None:
        return
    from platestream.settings import load
    from services.enrich.health_app import HealthGauges, build_health_app
    from services.enrich.notify_cli import run_faust_worker
    from services.enrich.settings import HealthSettings

    settings = load(HealthSettings)
    gauges = HealthGauges()
    if settings.health_metrics_port:
        gauges.serve(settings.health_metrics_port, settings.metrics_host)
    run_faust_worker(
        "health", settings.log_level, lambda: build_health_app(settings, gauges=gauges)
    )
