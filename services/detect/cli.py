"""`platestream detect` (the stage) and `platestream bench accuracy|crops|detect|synth` (its benchmarks)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Plate detection and OCR: anpr.frames.v1 -> anpr.plate-reads.v1.",
    invoke_without_command=True,
)


@app.callback()
def _main(ctx: typer.Context) -> None:
    """Run the detect stage when no subcommand is given."""
    if ctx.invoked_subcommand is None:
        run()


@app.command("run")
def run() -> None:
    """Consume frames, publish one PlateRead per plate, store crops; Ctrl+C stops after a drain."""
    import contextlib
    import threading

    from platestream.dlq import DeadLetters
    from platestream.kafka import make_consumer, make_producer
    from platestream.runtime import install_stop_handlers, setup_logging
    from platestream.s3 import ensure_bucket, make_s3
    from platestream.serde import AvroSerde
    from platestream.settings import load
    from services.detect import backends
    from services.detect.metrics import DetectMetrics
    from services.detect.processor import DetectProcessor
    from services.detect.settings import DetectSettings

    settings = load(DetectSettings)
    setup_logging(settings.log_level, settings.log_json)
    stop = threading.Event()
    install_stop_handlers(stop)
    pipeline = backends.build(
        backends.with_worker_threads(settings.backend(), settings.detect_workers)
    )
    metrics = DetectMetrics()
    metrics.serve(settings.detect_metrics_port, settings.detect_metrics_host)
    serde = AvroSerde(settings=settings)
    s3 = make_s3(settings)
    ensure_bucket(s3, settings.s3_bucket)
    with contextlib.ExitStack() as stack:
        consumer = make_consumer(settings, settings.topic_prefix + settings.detect_group_id)
        stack.callback(consumer.close)
        producer = make_producer(settings)
        stack.callback(producer.flush, 10.0)
        DetectProcessor(
            settings=settings,
            consumer=consumer,
            producer=producer,
            serde=serde,
            s3=s3,
            pipeline=pipeline,
            metrics=metrics,
            dead_letters=DeadLetters(
                stage="detect", producer=producer, serde=serde, settings=settings
            ),
            stop=stop,
        ).run()


@app.command("read")
def read_image(
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    formats: Annotated[
        str, typer.Option(help="Plate formats or regions, comma-separated (EU, US, BR, GB...).")
    ] = "ANY",
) -> None:
    """Read the plates of image files and print them (no Kafka, no bucket)."""
    import cv2

    from platestream.errors import BadInputError
    from platestream.plate_formats import formats_for
    from platestream.settings import load
    from services.detect import backends
    from services.detect.settings import DetectSettings

    settings = load(DetectSettings)
    pipeline = backends.build(settings.backend())
    fmts = formats_for(formats.split(","))
    for path in images:
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:
            raise BadInputError(f"cannot decode image {path}")
        result = pipeline.process(img, fmts, encode_crops=False)
        for p in result.plates:
            r = p.reading
            typer.echo(
                f"{path}\t{r.text}\t{r.confidence:.3f}\t{r.plate_format or '-'}\t{p.box.to_dict()}\t"
                f"{[c.text for c in r.candidates]}"
            )
        typer.echo(f"{path}\t{len(result.plates)} plates\t{result.total_ms:.0f} ms")


# bench accuracy and bench detect: the text look's side, or the stage's default
TextLookOption = Annotated[
    int | None,
    typer.Option(
        help="Last second look: text lines of the frame scaled to this many px "
        "(0: never; default: the stage's)."
    ),
]
ShapeLookOption = Annotated[
    int | None,
    typer.Option(
        help="Second look before the text look: plate-shaped outlines of the frame scaled to "
        "this many px (0: never; default: the stage's)."
    ),
]


def register_bench(bench_app: typer.Typer) -> None:
    """`platestream bench accuracy|crops|detect|synth`."""

    @bench_app.command("accuracy")
    def bench_accuracy(
        dataset: Annotated[
            Path, typer.Option(help="Folder of images + OpenALPR .txt labels (recursive).")
        ],
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the figures as JSON here.")
        ] = None,
        plot: Annotated[
            Path | None,
            typer.Option(
                help="Draw exact accuracy and review share per confidence threshold (PNG)."
            ),
        ] = None,
        formats: Annotated[
            str,
            typer.Option(
                help="Plate formats/regions; 'auto': the region a sub-folder names (eu, us, br...), else ANY."
            ),
        ] = "auto",
        limit: Annotated[
            int | None, typer.Option(help="Only the first N images (smoke runs).")
        ] = None,
        tiles: Annotated[
            str, typer.Option(help="Small-plate tiling: off | fallback | always.")
        ] = "fallback",
        recogniser: Annotated[
            str, typer.Option(help="Text recogniser: ppocr | plate | both.")
        ] = "ppocr",
        threads: Annotated[int, typer.Option(help="onnxruntime threads (0: one per core).")] = 0,
        rescue_conf: Annotated[
            float | None,
            typer.Option(
                help="Read boxes down to this score when none reaches conf (0: never; "
                "default: the stage's)."
            ),
        ] = None,
        precision: Annotated[
            str, typer.Option(help="Plate detector export: float | int8.")
        ] = "float",
        rescue_first: Annotated[
            bool,
            typer.Option(
                help="On the second look, read the frame's weak boxes before tiling it "
                "(--no-rescue-first: tiles first, the order before 2026-12-03)."
            ),
        ] = True,
        text_look: TextLookOption = None,
        shape_look: ShapeLookOption = None,
    ) -> None:
        """Recall (IoU>=0.3), exact accuracy per folder and plate size, confusions, accuracy per threshold."""
        from services.detect import accuracy_report, backends, bench_accuracy
        from services.detect.settings import OnnxBackend, ReaderOptions

        given = {"rescue_conf": rescue_conf, "text_look": text_look, "shape_look": shape_look}
        backend = backends.build(
            OnnxBackend(
                tiles=tiles,  # type: ignore[arg-type]
                threads=threads,
                precision=precision,  # type: ignore[arg-type]
                rescue_first=rescue_first,
                reader=ReaderOptions(recogniser=recogniser),  # type: ignore[arg-type]
                # the options not given keep the stage's defaults
                **{k: v for k, v in given.items() if v is not None},  # type: ignore[arg-type]
            )
        )
        samples = bench_accuracy.load_dataset(dataset)
        per_group = bench_accuracy.formats_by_group(samples, tuple(formats.split(",")))
        report = bench_accuracy.evaluate(backend, samples, per_group, limit=limit)
        report["dataset"] = str(dataset)
        typer.echo(bench_accuracy.render(report))
        if json_out:
            bench_accuracy.write_json(report, json_out)
            typer.echo(f"wrote {json_out}")
        if plot:
            accuracy_report.plot(report, plot, f"platestream bench accuracy: {dataset.name}")
            typer.echo(f"wrote {plot}")

    @bench_app.command("crops")
    def bench_crops(
        dataset: Annotated[
            Path, typer.Option(help="Folder of images + OpenALPR .txt labels (recursive).")
        ],
        recogniser: Annotated[
            str, typer.Option(help="Text recogniser: ppocr | plate | both.")
        ] = "ppocr",
        threads: Annotated[int, typer.Option(help="onnxruntime threads.")] = 1,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the figures as JSON here.")
        ] = None,
        limit: Annotated[int | None, typer.Option(help="Only the first N images.")] = None,
    ) -> None:
        """The reader alone on the labelled plate boxes (no detector): exact per folder, ms per crop."""
        from services.detect import backends, bench_crops
        from services.detect.settings import ReaderOptions

        opts = ReaderOptions(recogniser=recogniser)  # type: ignore[arg-type]
        report = bench_crops.evaluate(backends.make_reader(opts, threads), dataset, limit=limit)
        typer.echo(bench_crops.render(report, recogniser))
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")
            typer.echo(f"wrote {json_out}")

    @bench_app.command("detect")
    def bench_detect(
        runs: Annotated[int, typer.Option(help="Timed frames per size.")] = 20,
        json_out: Annotated[
            Path | None, typer.Option("--json", help="Write the figures as JSON here.")
        ] = None,
        threads: Annotated[int, typer.Option(help="onnxruntime threads (0: one per core).")] = 0,
        precision: Annotated[
            str, typer.Option(help="Plate detector export: float | int8.")
        ] = "float",
        rescue_first: Annotated[
            bool,
            typer.Option(
                help="Second look: the frame's weak boxes before its tiles (--no-rescue-first: "
                "tiles first)."
            ),
        ] = True,
        text_look: TextLookOption = None,
        shape_look: ShapeLookOption = None,
    ) -> None:
        """ms/frame (median, p95) for 720p and 1080p frames with one plate, and plates/s per stage."""
        from services.detect import bench_speed

        report = bench_speed.run(
            runs=runs,
            threads=threads,
            precision=precision,
            rescue_first=rescue_first,
            text_look=text_look,
            shape_look=shape_look,
        )
        typer.echo(bench_speed.render(report))
        if json_out:
            json_out.parent.mkdir(parents=True, exist_ok=True)
            json_out.write_text(json.dumps(report, indent=2), encoding="utf-8")
            typer.echo(f"wrote {json_out}")

    @bench_app.command("synth")
    def bench_synth(
        out: Annotated[Path, typer.Option(help="Where to write the synthetic set.")] = Path(
            "var/synth-plates"
        ),
        per_region: Annotated[int, typer.Option(help="Images per region (gb, eu, us, br).")] = 50,
        seed: Annotated[int, typer.Option()] = 1,
        regions: Annotated[
            str, typer.Option(help="Regions to draw, comma-separated (gb, eu, us, br).")
        ] = "gb,eu,us,br",
    ) -> None:
        """Generate a synthetic labelled plate set (OpenALPR format, one folder per region)."""
        from services.detect import synth

        wanted = tuple(r.strip().lower() for r in regions.split(",") if r.strip())
        unknown = sorted(set(wanted) - set(synth.REGIONS))
        if unknown or not wanted:
            raise typer.BadParameter(f"regions: {unknown or regions!r}; known: {synth.REGIONS}")
        n = synth.generate(out, per_region, seed=seed, regions=wanted)
        typer.echo(
            f"wrote {n} labelled images under {out} (run: platestream bench accuracy --dataset {out})"
        )
