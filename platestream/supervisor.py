"""`platestream up`: one supervisor that starts, watches and restarts the stage processes.

It brings up the local stack (unless told to use an existing one), creates the topics, applies
the ClickHouse migrations, starts every stage as its own process, restarts a stage that exits
(with backoff), and on Ctrl+C / SIGTERM stops the stages and then the stack it started.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from platestream.runtime import install_stop_handlers
from platestream.settings import CommonSettings, load
from platestream.stack.procs import death_signal

logger = logging.getLogger(__name__)

app = typer.Typer(help="Run the whole pipeline on the local stack.", invoke_without_command=True)

STAGES: dict[str, list[str]] = {
    "ingest": ["ingest", "serve"],
    # the camera manager: streams of the cameras added through the API / console
    "cameras": ["ingest", "cameras"],
    "detect": ["detect"],
    "enrich": ["enrich"],
    "sink": ["sink"],
    "notify": ["notify"],
    # the clone detector: one process must see the whole plate-event topic (docs/investigations.md)
    "anomalies": ["anomalies"],
    "health": ["health"],
    "api": ["api"],
}


@dataclass
class ProcessSpec:
    """One supervised process."""

    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    restart: bool = True


@dataclass
class _Running:
    spec: ProcessSpec
    proc: subprocess.Popen[bytes]
    started: float
    restarts: int = 0
    next_start: float = 0.0


class Supervisor:
    """Starts processes, restarts the ones that exit, stops them all in reverse order."""

    def __init__(
        self,
        *,
        specs: list[ProcessSpec],
        log_dir: Path,
        stop: threading.Event,
        max_backoff_s: float = 30.0,
        death_signal: signal.Signals | None = None,
    ) -> None:
        """``death_signal``: sent to every stage when the thread that started it dies (Linux), so
        a supervisor killed with SIGKILL leaves no stage behind."""
        self.specs = specs
        self.death_signal = death_signal if sys.platform.startswith("linux") else None
        self.log_dir = log_dir
        self.stop = stop
        self.max_backoff_s = max_backoff_s
        self.running: dict[str, _Running] = {}
        self.restarts: dict[str, int] = {s.name: 0 for s in specs}

    def _spawn(self, spec: ProcessSpec) -> subprocess.Popen[bytes]:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{spec.name}.log").open("ab")
        env = {**os.environ, **spec.env}
        logger.info("starting %s: %s", spec.name, " ".join(spec.argv))
        return subprocess.Popen(
            spec.argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            preexec_fn=death_signal(self.death_signal) if self.death_signal else None,
        )

    def start_all(self) -> None:
        for spec in self.specs:
            self.running[spec.name] = _Running(spec, self._spawn(spec), time.monotonic())

    def check(self) -> None:
        """Restart exited processes, with exponential backoff reset after a minute of good health."""
        now = time.monotonic()
        for name, run in self.running.items():
            code = run.proc.poll()
            if code is None:
                if now - run.started > 60:
                    run.restarts = 0
                continue
            if not run.spec.restart:
                continue
            if run.next_start == 0.0:
                delay = min(self.max_backoff_s, 0.5 * 2**run.restarts)
                logger.warning("%s exited with %s; restarting in %.1fs", name, code, delay)
                run.next_start = now + delay
            elif now >= run.next_start:
                run.proc = self._spawn(run.spec)
                run.started = now
                run.restarts += 1
                run.next_start = 0.0
                self.restarts[name] += 1

    def alive(self) -> dict[str, bool]:
        return {name: run.proc.poll() is None for name, run in self.running.items()}

    def stop_all(self, timeout: float = 10.0) -> None:
        for run in reversed(list(self.running.values())):
            if run.proc.poll() is None:
                run.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for run in reversed(list(self.running.values())):
            try:
                run.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("%s ignored SIGTERM; killing", run.spec.name)
                os.killpg(run.proc.pid, signal.SIGKILL)
                run.proc.wait(5)

    def run(self, on_tick: Callable[[], None] | None = None, tick_s: float = 1.0) -> None:
        self.start_all()
        try:
            while not self.stop.wait(tick_s):
                self.check()
                if on_tick is not None:
                    on_tick()
        finally:
            self.stop_all()


def stage_specs(stages: list[str], env: dict[str, str] | None = None) -> list[ProcessSpec]:
    exe = [sys.executable, "-m", "platestream.cli"]
    return [ProcessSpec(name, exe + STAGES[name], dict(env or {})) for name in stages]


def _prepare(settings: CommonSettings, *, use_existing: bool, ephemeral: bool) -> Any:
    """Start the local stack (unless an existing one is used), topics, migrations, bucket."""
    from platestream.kafka import create_topics
    from platestream.s3 import ensure_bucket, make_s3

    stack = None
    if not use_existing:
        from platestream.stack import LocalStack  # type: ignore[attr-defined]

        stack = LocalStack(settings, ephemeral=ephemeral)
        if stack.healthy():
            stack = None  # started by someone else (make stack-up): leave it running on exit
        else:
            stack.up()
    create_topics(settings)
    ensure_bucket(make_s3(settings), settings.s3_bucket)
    subprocess.run(
        [sys.executable, "-m", "platestream.cli", "db", "migrate"], check=True, timeout=300
    )
    return stack


@app.callback(invoke_without_command=True)
def up(
    stages: Annotated[str, typer.Option(help="Comma-separated stages to run.")] = ",".join(STAGES),
    demo: Annotated[
        bool, typer.Option(help="Create a demo admin and cameras and feed demo traffic.")
    ] = False,
    use_existing: Annotated[
        bool, typer.Option(help="Use servers already running (no local stack).")
    ] = False,
    ephemeral: Annotated[
        bool, typer.Option(help="Memory broker engine (data lost on stop).")
    ] = False,
) -> None:
    """Start the local stack and every stage; Ctrl+C stops them all."""
    settings = load(CommonSettings)
    stop = threading.Event()
    install_stop_handlers(stop)
    stack = _prepare(settings, use_existing=use_existing, ephemeral=ephemeral)
    chosen = [s.strip() for s in stages.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(STAGES))
    if unknown:
        raise typer.BadParameter(f"unknown stages: {', '.join(unknown)}")
    demo_runner = None
    env: dict[str, str] = {}
    if demo:
        from platestream.demo import Demo, demo_env

        env = demo_env()
        demo_runner = Demo(settings=settings, stop=stop)
    specs = stage_specs(chosen, env)
    if demo_runner is not None:
        specs += demo_runner.process_specs()
    sup = Supervisor(
        specs=specs,
        log_dir=settings.var_dir / "log" / "stages",
        stop=stop,
        death_signal=signal.SIGTERM,
    )
    progress = None
    if demo_runner is not None:
        threading.Thread(target=demo_runner.run, name="demo", daemon=True).start()
        progress = demo_runner.print_progress
    typer.echo("platestream is starting; stage logs in " + str(sup.log_dir) + "; Ctrl+C stops.")
    try:
        sup.run(on_tick=progress, tick_s=2.0)
    finally:
        if demo_runner is not None:
            demo_runner.close()
        if stack is not None:
            stack.down()
        typer.echo("\nstopped.")
