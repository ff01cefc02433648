"""`platestream stack up|down|status|logs|restart`: the local stack from the command line."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="The local stack: tansu broker, SeaweedFS (S3), chDB ClickHouse endpoint.",
    no_args_is_help=True,
)

VarDir = Annotated[
    Path | None,
    typer.Option("--var-dir", help="Data, logs and PID files (default: settings.var_dir)."),
]


def _stack(var_dir: Path | None, ephemeral: bool = False, timeout: float = 90.0):
    from platestream.settings import common
    from platestream.stack.launcher import LocalStack

    return LocalStack(common(), var_dir=var_dir, ephemeral=ephemeral, start_timeout=timeout)


def _fail(exc: Exception, *, usage: bool = False) -> typer.Exit:
    """Exit 1 for a runtime error (a component cannot start), 2 for a usage error."""
    typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
    return typer.Exit(2 if usage else 1)


def _print_status(stack) -> bool:
    all_ok = True
    for st in stack.status():
        all_ok &= st.healthy
        colour = typer.colors.GREEN if st.healthy else typer.colors.RED
        mark = "healthy" if st.healthy else "DOWN"
        pid = str(st.pid) if st.pid else "-"
        typer.echo(f"{st.name:11} 127.0.0.1:{st.port:<6} pid {pid:>7}  ", nl=False)
        typer.secho(f"{mark:8}", fg=colour, nl=False)
        typer.echo(f" {st.detail}")
    return all_ok


@app.command()
def up(
    ephemeral: Annotated[
        bool, typer.Option(help="Broker on the memory engine (records lost on restart).")
    ] = False,
    var_dir: VarDir = None,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each component.")] = 90.0,
) -> None:
    """Start every component (idempotent) and wait until each answers."""
    from platestream.errors import StackError

    stack = _stack(var_dir, ephemeral, timeout)
    started = time.monotonic()
    try:
        stack.up()
    except StackError as exc:
        raise _fail(exc) from None
    typer.echo(f"local stack up in {time.monotonic() - started:.1f}s (data {stack.var_dir})")
    _print_status(stack)


@app.command()
def down(var_dir: VarDir = None) -> None:
    """Stop every component by PID (SIGTERM, then SIGKILL)."""
    from platestream.errors import StackError

    try:
        stopped = _stack(var_dir).down()
    except StackError as exc:
        raise _fail(exc) from None
    typer.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status(var_dir: VarDir = None) -> None:
    """Health of each component; exit status 1 if any is down."""
    from platestream.errors import StackError

    try:
        ok = _print_status(_stack(var_dir))
    except StackError as exc:
        raise _fail(exc) from None
    if not ok:
        raise typer.Exit(1)


@app.command()
def restart(
    component: Annotated[str, typer.Argument(help="s3, broker or clickhouse")],
    var_dir: VarDir = None,
) -> None:
    """Stop and start one component."""
    from platestream.errors import StackError

    stack = _stack(var_dir)
    try:
        stack.stop(component)
        stack.start(component)
    except StackError as exc:
        raise _fail(exc) from None
    _print_status(stack)


@app.command()
def logs(
    component: Annotated[
        str | None, typer.Argument(help="s3, broker or clickhouse (default: all)")
    ] = None,
    lines: Annotated[int, typer.Option("-n", "--lines", help="Lines per component.")] = 40,
    follow: Annotated[
        bool, typer.Option("-f", "--follow", help="Keep printing new lines (Ctrl+C stops).")
    ] = False,
    var_dir: VarDir = None,
) -> None:
    """Print the last lines of each component's log (var/log/<component>.log)."""
    from platestream.errors import StackError
    from platestream.stack.launcher import COMPONENTS

    stack = _stack(var_dir)
    names = [component] if component else list(COMPONENTS)
    if component and component not in COMPONENTS:
        raise _fail(
            StackError(f"unknown component {component!r}; choose one of {', '.join(COMPONENTS)}"),
            usage=True,
        )
    for name in names:
        typer.secho(f"==> {stack.log_path(name)} <==", bold=True)
        typer.echo(stack.log_tail(name, lines))
    if not follow:
        return
    positions = {
        n: stack.log_path(n).stat().st_size if stack.log_path(n).exists() else 0 for n in names
    }
    try:
        while True:
            for name in names:
                path = stack.log_path(name)
                if not path.exists():
                    continue
                with open(path, "rb") as fh:
                    fh.seek(positions[name])
                    chunk = fh.read()
                    positions[name] = fh.tell()
                for line in chunk.decode(errors="replace").splitlines():
                    typer.echo(f"{name}: {line}" if len(names) > 1 else line)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
