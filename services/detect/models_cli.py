"""`platestream models prepare|list|train`: export the plate detector, check model files, train the recogniser."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Model files of the detect stage (all ship inside wheels).", no_args_is_help=True
)


@app.command("prepare")
def prepare(
    model_dir: Annotated[
        Path | None, typer.Option(help="Where exported models go (default: models/).")
    ] = None,
    force: Annotated[bool, typer.Option(help="Export again even if the ONNX file exists.")] = False,
) -> None:
    """Export the shipped YOLOv8 plate detector to ONNX (float, and an int8 copy) and check every
    model file exists."""
    from services.detect import models, quantize

    target = model_dir or models.DEFAULT_MODEL_DIR
    path = models.export_plate_detector(target, force=force)
    typer.echo(f"plate detector: {path}")
    int8 = quantize.quantize_plate_detector(path, target, force=force)
    typer.echo(f"plate detector, int8: {int8}")
    for name, p in models.check_all(target).items():
        typer.echo(f"ok {name:13} {p}")


@app.command("list")
def list_models() -> None:
    """Every model file: package, version, path inside the wheel, licence, role, present or not."""
    from platestream.errors import ModelError
    from services.detect import models

    for f in models.SHIPPED.values():
        try:
            where = str(f.path())
        except ModelError as exc:
            where = f"MISSING ({exc})"
        typer.echo(
            f"{f.name:13} {f.package}=={f.version} {f.relpath}  [{f.licence}]  {f.role}\n{'':13} {where}"
        )
    from services.detect.quantize import PLATE_INT8

    for name, file in (("plate_onnx", models.PLATE_ONNX), ("plate_int8", PLATE_INT8)):
        onnx = models.DEFAULT_MODEL_DIR / file
        typer.echo(
            f"{name:13} exported from plate_pt by `platestream models prepare`: "
            f"{onnx if onnx.is_file() else 'MISSING (run platestream models prepare)'}"
        )
    from services.detect.platerec import SHIPPED_MODEL

    typer.echo(
        f"{'plate_rec':13} trained by `platestream models train` (AGPL-3.0-or-later), used when "
        f"reader.recogniser is plate|both: "
        f"{SHIPPED_MODEL if SHIPPED_MODEL.is_file() else 'MISSING'}"
    )


@app.command("train")
def train(
    out: Annotated[
        Path, typer.Option(help="Where plate-rec.onnx, its .json and train.log are written.")
    ] = Path("var/plate-rec"),
    minutes: Annotated[float, typer.Option(help="Wall-clock budget of the training.")] = 40.0,
    seed: Annotated[int, typer.Option(help="Seed of the weights and the rendered data.")] = 7,
    threads: Annotated[int, typer.Option(min=1, help="torch threads (CPU cores used).")] = 1,
    steps: Annotated[
        int | None,
        typer.Option(help="Exact number of steps (reproduces a run); default: fit the minutes."),
    ] = None,
    schedule_steps: Annotated[
        int | None,
        typer.Option(help="Length of the learning-rate schedule (default: the step count)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Crops per step.")] = 32,
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW, cosine schedule).")] = 2e-3,
    device: Annotated[
        str, typer.Option(help="torch device: cpu, or cuda where a GPU is (inference stays CPU).")
    ] = "cpu",
    workers: Annotated[
        int, typer.Option(min=0, help="Processes rendering batches ahead (0: none).")
    ] = 0,
) -> None:
    """Train the plate recogniser (CRNN + CTC) on rendered synthetic plates; export ONNX + JSON."""
    from services.detect.train.loop import TrainConfig
    from services.detect.train.run import run

    cfg = TrainConfig(
        minutes=minutes,
        seed=seed,
        threads=threads,
        steps=steps,
        schedule_steps=schedule_steps,
        batch_size=batch_size,
        lr=lr,
        device=device,
        workers=workers,
    )
    meta = run(cfg, out)
    typer.echo(
        f"{meta['training_steps']} steps in {meta['train_seconds']} s; "
        f"held-out exact {meta['held_out_exact']}; model in {out}"
    )
