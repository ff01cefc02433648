"""Whole-pipeline benchmarks: `platestream bench pipeline` and `platestream bench soak`, and the
key trees' cost, `platestream bench subject-keys`.

The modules beside this one are the parts: ``load`` (generated records), ``probes`` (what is
measured while load runs), ``harness`` (stages as supervised subprocesses in an isolated
namespace), ``report`` (plots and tables), ``pipeline`` and ``soak`` (the two runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer


def register_bench(bench_app: typer.Typer) -> None:
    """Add the whole-pipeline commands under `platestream bench`."""

    @bench_app.command("pipeline")
    def pipeline(
        no_detect: Annotated[
            bool, typer.Option("--no-detect", help="Leave out the CPU-bound detector (no frames).")
        ] = False,
        rate: Annotated[
            float, typer.Option(help="Reads per second produced to the reads topic.")
        ] = 2000.0,
        seconds: Annotated[float, typer.Option(help="How long the load runs.")] = 30.0,
        frames_per_s: Annotated[
            float, typer.Option(help="Frames per second for the detector (see --images).")
        ] = 2.0,
        cameras: Annotated[int, typer.Option(help="Cameras the reads are spread over.")] = 1000,
        backlog: Annotated[
            int,
            typer.Option(help="Reads written before the stages start (measures the drain rate)."),
        ] = 0,
        alert_every: Annotated[
            int, typer.Option(help="Every N-th read's plate is on a watchlist (0: none).")
        ] = 500,
        reference_messages: Annotated[
            int, typer.Option(help="Messages for the raw broker reference.")
        ] = 100_000,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Write the full result as JSON.")
        ] = None,
        plot_path: Annotated[
            Path | None, typer.Option("--plot", help="Write a PNG plot (default: next to --json).")
        ] = None,
        keep: Annotated[
            bool, typer.Option(help="Keep the run's topics, database and bucket.")
        ] = False,
        drain_timeout: Annotated[
            float, typer.Option(help="Max seconds to wait for the last rows after the load.")
        ] = 120.0,
        stack: Annotated[
            str,
            typer.Option(
                help="auto: the running local stack, else a private one; memory | s3: a private stack with that broker engine."
            ),
        ] = "auto",
        cpus: Annotated[
            int | None,
            typer.Option(
                "--cpus",
                help="Pin the stages and the stack to this many cores and the load generator to"
                " the others (emulates a smaller machine).",
            ),
        ] = None,
        erasures: Annotated[
            int,
            typer.Option(
                help="Plate erasures requested before the run (plates not in the load): the"
                " sink then checks every record against a ledger that is not empty."
            ),
        ] = 0,
        images: Annotated[
            Path | None,
            typer.Option(
                "--images",
                help="Directory of *.jpg photos for the detector (default: the shared dataset beside the repository if present, else synthetic frames).",
                exists=True,
                file_okay=False,
            ),
        ] = None,
    ) -> None:
        """Drive the pipeline end to end; print throughput, freshness, lag, CPU and memory per stage."""
        from platestream.bench import pipeline as pl
        from platestream.bench import report
        from platestream.bench.report import plot
        from platestream.benchutil import write_json
        from platestream.settings import CommonSettings, load

        opts = pl.PipelineOptions(
            rate=rate,
            seconds=seconds,
            detect=not no_detect,
            frames_per_s=frames_per_s,
            backlog=backlog,
            alert_every=alert_every,
            cameras=cameras,
            reference_messages=reference_messages,
            keep=keep,
            stack=stack,
            drain_timeout_s=drain_timeout,
            images=images,
            cpus=cpus,
            erasures=erasures,
        )
        result = pl.run(load(CommonSettings), opts)
        if plot_path is None and json_path is not None:
            plot_path = json_path.with_suffix(".png")
        if plot_path is not None:
            title = (
                f"platestream bench pipeline {'--no-detect ' if no_detect else ''}--rate {rate:g} "
                f"--seconds {seconds:g}; {result['machine']['cpus']} cpus, load avg {result['load_avg']}"
            )
            result["plot"] = str(plot(result, plot_path, title))
        write_json(json_path, result)
        typer.echo(report.summary_text(result))
        if json_path:
            typer.echo(f"JSON: {json_path}" + (f"  plot: {plot_path}" if plot_path else ""))

    @bench_app.command("subject-keys")
    def subject_keys(
        plates: Annotated[int, typer.Option(min=1, help="New plates per run.")] = 20_000,
        runs: Annotated[int, typer.Option(min=1, help="Runs (the median is reported).")] = 5,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Write the result as JSON.")
        ] = None,
    ) -> None:
        """CPU per new plate's key from a key tree (crypto-shredding), and a tree's size after erasures."""
        from platestream.bench import subject_keys as sk
        from platestream.benchutil import write_json

        result = sk.measure(plates=plates, runs=runs)
        write_json(json_path, result)
        typer.echo(sk.summary_text(result))

    @bench_app.command("soak")
    def soak(
        minutes: Annotated[float, typer.Option(help="How long the soak runs.")] = 10.0,
        rate: Annotated[float, typer.Option(help="Reads per second (moderate load).")] = 1000.0,
        max_slope_mib_per_min: Annotated[
            float,
            typer.Option(
                help="Fail when a stage's RSS grows faster than this over the second half."
            ),
        ] = 2.0,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Write the full result as JSON.")
        ] = None,
        plot_path: Annotated[
            Path | None, typer.Option("--plot", help="Write a PNG plot (default: next to --json).")
        ] = None,
    ) -> None:
        """Moderate load for N minutes; print memory and lag per stage over time; fail on unbounded growth."""
        from platestream.bench import soak as sk
        from platestream.bench.report import plot
        from platestream.benchutil import write_json
        from platestream.settings import CommonSettings, load

        opts = sk.SoakOptions(
            minutes=minutes, rate=rate, max_slope_mib_per_min=max_slope_mib_per_min
        )
        result = sk.run(load(CommonSettings), opts, echo=typer.echo)
        if plot_path is None and json_path is not None:
            plot_path = json_path.with_suffix(".png")
        if plot_path is not None:
            result["plot"] = str(
                plot(
                    result,
                    plot_path,
                    f"platestream bench soak --minutes {minutes:g} --rate {rate:g}",
                )
            )
        write_json(json_path, result)
        typer.echo(sk.summary_text(result))
        if not result["passed"]:
            typer.echo(json.dumps(result["verdict"], indent=2))
            raise typer.Exit(1)
