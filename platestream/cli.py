"""The `platestream` command: one entry point for every stage and the tooling around them.

Each stage contributes its own Typer app from ``services/<stage>/cli.py`` (kept light: heavy
libraries are imported inside the commands). Bench commands are gathered under `platestream bench`.
"""

from __future__ import annotations

import importlib
import logging
import sys
from typing import Annotated

import typer

from platestream.errors import PlatestreamError

app = typer.Typer(
    name="platestream",
    help="Event-sourced licence-plate recognition on Kafka.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(
    help="Benchmarks that print figures and can write JSON.", no_args_is_help=True
)
topics_app = typer.Typer(help="The topic catalogue.", no_args_is_help=True)
schemas_app = typer.Typer(help="The Avro event contracts in schemas/.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
app.add_typer(topics_app, name="topics")
app.add_typer(schemas_app, name="schemas")

logger = logging.getLogger(__name__)

# command name -> module exposing `app` (a typer.Typer); optional `register_bench(bench_app)`.
SUBCOMMANDS: dict[str, str] = {
    "stack": "platestream.stack.cli",
    "ingest": "services.ingest.cli",
    "detect": "services.detect.cli",
    "enrich": "services.enrich.cli",
    "anomalies": "services.investigate.cli",
    "investigate": "services.investigate.jobs",
    "notify": "services.enrich.notify_cli",
    "health": "services.enrich.health_cli",
    "sink": "services.sink.cli",
    "db": "services.sink.db_cli",
    "replay": "services.sink.replay_cli",
    "api": "services.api.cli",
    "users": "services.api.users_cli",
    "models": "services.detect.models_cli",
    "up": "platestream.supervisor",
    "privacy": "platestream.privacy.cli",
    "retention": "platestream.privacy.retention_cli",
}
BENCH_PROVIDERS = (
    "services.ingest.cli",
    "services.detect.cli",
    "services.enrich.cli",
    "services.sink.cli",
    "services.api.cli",
    "services.investigate.cli",
    "platestream.bench",
)


def _attach() -> None:
    for name, module_name in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # stage not built yet
            raise
        sub = getattr(module, "app", None)
        if isinstance(sub, typer.Typer):
            app.add_typer(sub, name=name)
    for module_name in BENCH_PROVIDERS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue
            raise
        register = getattr(module, "register_bench", None)
        if register is not None:
            register(bench_app)


@topics_app.command("create")
def topics_create() -> None:
    """Create every catalogue topic that does not exist yet (idempotent)."""
    from platestream.kafka import create_topics
    from platestream.settings import common

    for name, state in sorted(create_topics(common()).items()):
        typer.echo(f"{state:8} {name}")


@topics_app.command("tail")
def topics_tail(
    topic: Annotated[str, typer.Argument(help="Topic name (catalogue names get the prefix).")],
    from_beginning: Annotated[
        bool, typer.Option("--from-beginning", help="Start at the oldest record, not the end.")
    ] = False,
    json_lines: Annotated[
        bool,
        typer.Option("--json", help="Whole records (position, key, headers, value) as JSON lines."),
    ] = False,
    max_records: Annotated[
        int | None, typer.Option("--max", min=1, help="Stop after this many records.")
    ] = None,
    idle_exit: Annotated[
        float | None,
        typer.Option("--idle-exit", min=0.1, help="Stop after this many seconds with no record."),
    ] = None,
    base64_bytes: Annotated[
        bool, typer.Option("--base64", help="Binary fields (images) as base64, not their length.")
    ] = False,
) -> None:
    """Print a topic's records decoded from Avro (Ctrl+C stops); no consumer group is joined."""
    import json
    import threading

    from platestream.runtime import install_stop_handlers
    from platestream.settings import CommonSettings, load
    from platestream.tail import TailOptions, resolve_topic, tail, text_line

    settings = load(CommonSettings)
    stop = threading.Event()
    install_stop_handlers(stop)
    opts = TailOptions(from_beginning, max_records, idle_exit, base64_bytes)
    for rec in tail(settings, resolve_topic(settings, topic), opts, stop=stop.is_set):
        line = json.dumps(rec, ensure_ascii=False, default=str) if json_lines else text_line(rec)
        typer.echo(line)


@topics_app.command("list")
def topics_list() -> None:
    """Print the catalogue: name, partitions, key, cleanup policy, schema."""
    from platestream import topics as catalogue

    for t in catalogue.ALL:
        policy = "compact" if t.compacted else "delete"
        typer.echo(f"{t.name:28} p={t.partitions:<2} key={t.key:14} {policy:8} schema={t.schema}")


@schemas_app.command("list")
def schemas_list() -> None:
    """Print each schema with its deterministic id (the id used without a Schema Registry)."""
    from platestream.serde import catalogue_schemas, local_schema_id

    for name, parsed in catalogue_schemas().items():
        typer.echo(f"{local_schema_id(parsed):>10}  {name}")


@schemas_app.command("check")
def schemas_check() -> None:
    """Check every topic's schema against the Schema Registry's compatibility rule (before a
    rollout); exit status 1 if the registry would refuse any."""
    from platestream.errors import ConfigError
    from platestream.registry import Registry, check_catalogue
    from platestream.settings import CommonSettings, load

    settings = load(CommonSettings)
    if not settings.schema_registry_url:
        raise ConfigError("PLATESTREAM_SCHEMA_REGISTRY_URL: not set; expects the registry's URL")
    verdicts = check_catalogue(
        Registry(settings.schema_registry_url, settings), settings.topic_prefix
    )
    for v in verdicts:
        typer.echo(f"{v.state:12} {v.subject}  ({v.schema}.avsc)")
        for problem in v.problems:
            typer.echo(f"{'':12}   {problem}")
    bad = [v for v in verdicts if not v.ok]
    if bad:
        typer.secho(
            f"{len(bad)} schema(s) would be refused by {settings.schema_registry_url}",
            fg=typer.colors.RED,
            err=True,
        )
        raise typer.Exit(1)


@schemas_app.command("freeze")
def schemas_freeze() -> None:
    """Copy every current schema into schemas/history/ under its id (run before a release).

    Records written with a frozen version stay decodable after the schema evolves.
    """
    import shutil

    from platestream.serde import SCHEMA_DIR, catalogue_schemas, local_schema_id

    history = SCHEMA_DIR / "history"
    history.mkdir(exist_ok=True)
    for name, parsed in catalogue_schemas().items():
        target = history / f"{name}.{local_schema_id(parsed)}.avsc"
        if not target.exists():
            shutil.copyfile(SCHEMA_DIR / f"{name}.avsc", target)
            typer.echo(f"frozen {target.relative_to(SCHEMA_DIR.parent)}")


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"platestream {version('platestream')}")
        except PackageNotFoundError:
            typer.echo("platestream (not installed as a package)")
        raise typer.Exit()


@app.callback()
def _root(
    ctx: typer.Context,
    log_level: Annotated[
        str, typer.Option(envvar="PLATESTREAM_LOG_LEVEL", help="Log level.")
    ] = "INFO",
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    from platestream.envcheck import warn_unknown_variables
    from platestream.runtime import setup_logging

    # the stage name (ingest, detect, enrich, ...) goes into every JSON log line
    setup_logging(log_level, stage=ctx.invoked_subcommand)
    warn_unknown_variables()


_attach()


def main() -> None:
    """Exit status: 0 done, 1 runtime error (a server down, bad data), 2 usage error (an unknown
    option or command, a bad setting)."""
    from platestream.errors import ConfigError

    try:
        app()
    except ConfigError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(2)
    except PlatestreamError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
