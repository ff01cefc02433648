"""`platestream health`: camera online/offline table (faust-streaming worker)."""

from __future__ import annotations

import logging

import typer

logger = logging.getLogger(__name__)

app = typer.Typer(
    help="Track camera health and publish offline/online statuses.", invoke_without_command=True
)


@app.callback()
def run(ctx: typer.Context) -> None:
    """Run camera health until SIGTERM/SIGINT."""
    if ctx.invoked_subcommand is not None:
        return
    from platestream import topics as catalogue
    from platestream.settings import load
    from services.enrich.health_app import HealthGauges, build_health_app
    from services.enrich.notify_cli import run_faust_worker
    from services.enrich.settings import HealthSettings

    settings = load(HealthSettings)
    gauges = HealthGauges()
    if settings.health_metrics_port:
        gauges.serve(settings.health_metrics_port, settings.metrics_host)
    logger.info(
        "health starting (camera status to %s, metrics port %s)",
        settings.topic(catalogue.CAMERA_STATUS.name),
        settings.health_metrics_port or "off",
    )
    run_faust_worker(
        "health", settings.log_level, lambda: build_health_app(settings, gauges=gauges)
    )
