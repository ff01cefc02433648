"""`platestream notify`: deliver alerts to webhooks, MQTT and e-mail (faust-streaming worker)."""

from __future__ import annotations

import typer

app = typer.Typer(
    help="Deliver watchlist alerts to webhooks, MQTT topics and e-mail.",
    invoke_without_command=True,
)


@app.callback()
def run(ctx: typer.Context) -> None:
    """Run the notifier until SIGTERM/SIGINT."""
    if ctx.invoked_subcommand is not None:
        return
    from platestream.settings import load
    from services.enrich.settings import NotifySettings

    settings = load(NotifySettings)
    run_faust_worker("notify", settings.log_level, lambda: _build(settings))


def _build(settings):  # type: ignore[no-untyped-def]
    from services.enrich.notify_app import build_notify_app
    from services.enrich.notify_metrics import NotifyMetrics

    metrics = NotifyMetrics()
    metrics.serve(settings.notify_metrics_port, settings.metrics_host)
    return build_notify_app(settings, metrics=metrics)


def run_faust_worker(name: str, log_level: str, build) -> None:  # type: ignore[no-untyped-def]
    """Run a faust app in this process (faust installs its own SIGTERM/SIGINT handlers)."""
    import faust

    from platestream.logs import FAUST_LOGGING_CONFIG, root_handlers

    app = build()
    # keep platestream's log format (JSON with PLATESTREAM_LOG_JSON) instead of faust's own
    app.conf.loghandlers = root_handlers()
    worker = faust.Worker(
        app,
        loglevel=log_level.upper(),
        quiet=True,
        redirect_stdouts=False,
        logging_config=dict(FAUST_LOGGING_CONFIG),
    )
    worker.execute_from_commandline()
