"""`platestream ingest ...`: the push server, camera frame sources, Dahua connectors, the MQTT
bridge and video files; `platestream bench ingest`. Heavy imports stay inside the commands."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Ingest: camera pushes, streams, MQTT and videos into Kafka.", invoke_without_command=True
)


def _settings():
    from platestream.settings import load
    from services.ingest.settings import IngestSettings

    return load(IngestSettings)


def _stop_event() -> threading.Event:
    from platestream.runtime import install_stop_handlers

    stop = threading.Event()
    install_stop_handlers(stop)
    return stop


@app.callback()
def main(ctx: typer.Context) -> None:
    """Run the push server when no subcommand is given."""
    import logging

    if (
        not logging.getLogger().handlers
    ):  # run as `python -m services.ingest`, not via `platestream`
        from platestream.runtime import setup_logging

        setup_logging(os.environ.get("PLATESTREAM_LOG_LEVEL", "INFO"))
    if ctx.invoked_subcommand is None:
        serve()


@app.command()
def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default PLATESTREAM_INGEST_HOST).")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default PLATESTREAM_INGEST_PORT, 8080).")
    ] = None,
) -> None:
    """Serve the push receivers (/push/<format>), uploads, /health and /metrics."""
    from services.ingest.processor import IngestServer

    settings = _settings()
    updates = {k: v for k, v in (("ingest_host", host), ("ingest_port", port)) if v is not None}
    if updates:
        settings = settings.model_copy(update=updates)
    IngestServer(settings=settings, stop=_stop_event()).run()


@app.command()
def camera(
    source: Annotated[
        list[str],
        typer.Option(
            "--source",
            "-s",
            help="[CAMERA_ID=]URL: rtsp://, http://, a file or sim://scene?seed=N. Repeat for more cameras.",
        ),
    ],
    realtime: Annotated[bool, typer.Option(help="Pace sim:// sources at their fps.")] = True,
) -> None:
    """Read frames from cameras (OpenCV) or the synthetic scene into anpr.frames.v1."""
    from services.ingest.frames import CameraSpec, FramePublisher, FrameSourceProcessor
    from services.ingest.processor import frame_clients

    specs = []
    for i, item in enumerate(source):
        cam, sep, url = item.partition("=")
        if not sep or "://" in cam or "/" in cam:
            cam, url = f"cam-{i + 1}", item
        specs.append(CameraSpec(camera_id=cam, url=url))
    settings = _settings()
    stop = _stop_event()
    with frame_clients(settings) as (producer, serde, store, metrics, status):
        frames = FramePublisher(
            producer=producer, serde=serde, settings=settings, store=store, metrics=metrics
        )
        FrameSourceProcessor(
            cameras=specs,
            frames=frames,
            status=status,
            settings=settings,
            stop=stop,
            metrics=metrics,
            realtime=realtime,
        ).run()


@app.command()
def cameras(
    shared: Annotated[
        bool,
        typer.Option(
            "--shared/--alone",
            help="Share the cameras with the other replicas (consumer group) or run every camera here.",
        ),
    ] = True,
) -> None:
    """Camera manager: a source for every enabled camera on anpr.cameras.v1, followed live."""
    from services.ingest.camera_service import camera_manager

    settings = _settings()
    stop = _stop_event()
    with camera_manager(settings, stop, shared=shared) as manager:
        manager.run()


@app.command()
def dahua(
    camera_id: Annotated[str, typer.Option("--camera", help="Our camera id.")],
    url: Annotated[str, typer.Option(help="Camera base URL, e.g. http://192.0.2.10")],
    username: Annotated[str, typer.Option(help="Camera user.")] = "admin",
    password_env: Annotated[
        str, typer.Option(help="Name of the env var holding the camera password.")
    ] = "PLATESTREAM_DAHUA_PASSWORD",
    stream: Annotated[
        str,
        typer.Option(
            help="snap (snapManager attachFileProc, with pictures) or event (eventManager attach)."
        ),
    ] = "snap",
) -> None:
    """Hold a Dahua camera's event stream (digest auth), reconnecting with backoff."""
    from services.ingest.connector import EVENT_PATH, SNAP_PATH, DahuaConnector
    from services.ingest.processor import ingest_context
    from services.ingest.status import StatusPublisher

    password = os.environ.get(password_env)
    if not password:
        raise typer.BadParameter(f"set the camera password in ${password_env}")
    settings = _settings()
    stop = _stop_event()
    with ingest_context(settings, uploads=False, follow_api_keys=False) as ctx:
        status = StatusPublisher(producer=ctx.producer, serde=ctx.serde, settings=settings)
        DahuaConnector(
            camera_id=camera_id,
            base_url=url,
            username=username,
            password=password,
            publisher=ctx.publisher,
            status=status,
            settings=settings,
            stop=stop,
            dead_letters=ctx.dead_letters,
            path=SNAP_PATH if stream == "snap" else EVENT_PATH,
        ).run()


@app.command()
def mqtt() -> None:
    """Bridge edge devices' MQTT topic (PLATESTREAM_INGEST_MQTT_TOPIC) into camera events."""
    from services.ingest.mqtt import MqttBridge
    from services.ingest.processor import ingest_context

    settings = _settings()
    stop = _stop_event()
    with ingest_context(settings, uploads=False, follow_api_keys=False) as ctx:
        MqttBridge(
            settings=settings,
            publisher=ctx.publisher,
            dead_letters=ctx.dead_letters,
            stop=stop,
            metrics=ctx.metrics,
        ).run()


@app.command("mqtt-acl")
def mqtt_acl(
    out: Annotated[Path, typer.Option(help="Directory for the 'passwd' (0600) and 'acl' files.")],
    service_topic: Annotated[
        list[str] | None,
        typer.Option(
            help="Topic filter the service account may also read and write (e.g. notify's "
            "alert topics); repeatable."
        ),
    ] = None,
    service_account: Annotated[
        bool,
        typer.Option(
            help="Also write the bridge's account; off where the broker's start script adds it "
            "(docker-compose.yml)."
        ),
    ] = True,
) -> None:
    """Mosquitto password and ACL files giving each registered device its own login, allowed to
    publish to its own topic only; the bridge's account (PLATESTREAM_INGEST_MQTT_USERNAME/
    _PASSWORD) reads them all."""
    from platestream.mqttacl import MqttAclError, write_files

    settings = _settings()
    try:
        passwd, acl = write_files(
            out,
            settings.devices(),
            subscription=settings.ingest_mqtt_topic,
            service_user=settings.ingest_mqtt_username if service_account else None,
            service_password=settings.ingest_mqtt_password if service_account else None,
            service_topics=service_topic or [],
        )
    except MqttAclError as exc:
        raise typer.BadParameter(str(exc)) from exc
    typer.echo(f"wrote {passwd} and {acl} ({len(settings.devices())} devices)")


@app.command("file")
def file_(
    path: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="A video file.")],
    camera_id: Annotated[str, typer.Option("--camera", help="Our camera id.")],
    recorded_at: Annotated[
        str | None, typer.Option(help="When the video starts (ISO 8601); default now.")
    ] = None,
) -> None:
    """Sample a video file into anpr.frames.v1 with progress, like POST /api/v1/uploads."""
    import time
    import uuid

    from services.ingest.devicetime import parse_time
    from services.ingest.processor import frame_clients
    from services.ingest.uploads import UploadJob, UploadManager, probe

    settings = _settings()
    base_ts = parse_time(recorded_at)[0] if recorded_at else None
    with frame_clients(settings) as (producer, serde, store, metrics, _status):
        manager = UploadManager(
            settings=settings, producer=producer, serde=serde, store=store, metrics=metrics
        )
        job = UploadJob(
            job_id=str(uuid.uuid4()),
            camera_id=camera_id,
            filename=path.name,
            frames_total=probe(path),
        )
        worker = threading.Thread(
            target=manager.run_job, args=(job, path), kwargs={"base_ts": base_ts, "delete": False}
        )
        worker.start()
        while worker.is_alive():
            worker.join(timeout=1.0)
            typer.echo(
                f"job {job.job_id}: {job.state} {job.progress:.0%} ({job.frames_read} frames read)",
                err=True,
            )
            time.sleep(0)
        typer.echo(json.dumps(job.view()))
        if job.state != "done":
            raise typer.Exit(1)


def register_bench(bench_app: typer.Typer) -> None:
    @bench_app.command("cameras")
    def bench_cameras(
        runs: Annotated[int, typer.Option(help="Runs; the median is reported.")] = 3,
        cameras: Annotated[int, typer.Option(help="sim:// cameras on the one manager.")] = 16,
        fps: Annotated[float, typer.Option(help="Frames per second per camera.")] = 5.0,
        seconds: Annotated[float, typer.Option(help="Measured seconds per run.")] = 20.0,
        width: Annotated[int, typer.Option(help="Frame width (16:9).")] = 1280,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Write the result as JSON.")
        ] = None,
    ) -> None:
        """One camera manager with N sim:// cameras: frames/s sustained, CPU per camera, backlog."""
        from platestream.benchutil import write_json
        from services.ingest.camera_bench import run, summary_text

        result = run(runs=runs, cameras=cameras, fps=fps, seconds=seconds, width=width)
        typer.echo(summary_text(result))
        write_json(json_path, result)

    @bench_app.command("ingest")
    def bench_ingest(
        runs: Annotated[
            int, typer.Option(help="Runs of each measurement; the median is reported.")
        ] = 5,
        requests: Annotated[int, typer.Option(help="Pushes per run.")] = 1000,
        concurrency: Annotated[int, typer.Option(help="Concurrent HTTP clients.")] = 16,
        frames: Annotated[
            int, typer.Option(help="Frames per run for the frame-source measurement.")
        ] = 300,
        cameras: Annotated[
            int, typer.Option(help="sim:// cameras in the frame-source measurement.")
        ] = 2,
        json_path: Annotated[
            Path | None, typer.Option("--json", help="Write the result as JSON.")
        ] = None,
    ) -> None:
        """Push throughput (events/s, p50/p99 until Kafka ack) and frame-source throughput (frames/s)."""
        from platestream.benchutil import write_json
        from services.ingest.bench import run, summary_text

        result = run(
            runs=runs, requests=requests, concurrency=concurrency, frames=frames, cameras=cameras
        )
        typer.echo(summary_text(result))
        write_json(json_path, result)
