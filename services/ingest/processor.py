"""Wiring of the ingest stage: clients in, context out; the server process with its stop event."""

from __future__ import annotations

import contextlib
import logging
import threading
import uuid
from collections.abc import Iterator
from typing import Any

from platestream import topics as catalogue
from platestream.dlq import DeadLetters
from platestream.kafka import make_consumer, make_producer
from platestream.serde import AvroSerde
from services.ingest.app import IngestContext, create_app
from services.ingest.camera_state import CameraDirectory
from services.ingest.device_registry import DeviceActivity, DeviceStatusReporter, DeviceStore
from services.ingest.devices import ApiKeyFollower, ApiKeyStore, DeviceAuth, TokenBucket
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import AckingProducer, EventPublisher, ImageStore
from services.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)


def make_store(settings: IngestSettings) -> ImageStore:
    from platestream.s3 import ensure_bucket, make_s3

    client = make_s3(settings)
    ensure_bucket(client, settings.s3_bucket)
    return ImageStore(client=client, bucket=settings.s3_bucket)


@contextlib.contextmanager
def ingest_context(
    settings: IngestSettings,
    *,
    producer: Any = None,
    store: ImageStore | None = None,
    serde: AvroSerde | None = None,
    follow_api_keys: bool | None = None,
    uploads: bool = True,
) -> Iterator[IngestContext]:
    """Everything the server needs, opened in order and closed in reverse (flushing the producer)."""
    with contextlib.ExitStack() as stack:
        serde = serde or AvroSerde(settings=settings)
        acking = AckingProducer(
            producer=producer or make_producer(settings, **{"linger.ms": 2}),
            factory=None
            if producer is not None
            else (lambda: make_producer(settings, **{"linger.ms": 2})),
        ).start()
        stack.callback(acking.close)
        store = store if store is not None else make_store(settings)
        api_keys: ApiKeyStore | None = None
        if settings.ingest_api_keys if follow_api_keys is None else follow_api_keys:
            api_keys = ApiKeyStore()
            consumer = make_consumer(
                settings, f"{settings.topic_prefix}platestream-ingest-keys-{uuid.uuid4().hex[:8]}"
            )
            follower = ApiKeyFollower(
                consumer=consumer,
                serde=serde,
                topic=settings.topic(catalogue.API_KEYS.name),
                store=api_keys,
            )
            follower.start()
            stack.callback(follower.stop)
        devices, activity = _follow_devices(settings, serde, acking, stack)
        cameras = _follow_cameras(settings, serde, stack)
        metrics = IngestMetrics()
        ctx = IngestContext(
            settings=settings,
            auth=DeviceAuth(settings.devices(), api_keys=api_keys, device_store=devices),
            limiter=TokenBucket(),
            producer=acking,
            publisher=EventPublisher(producer=acking, serde=serde, settings=settings, store=store),
            dead_letters=DeadLetters(
                stage="ingest", producer=acking.current(), serde=serde, settings=settings
            ),
            metrics=metrics,
            serde=serde,
            device_activity=activity,
            cameras=cameras,
        )
        if uploads:
            from services.ingest.uploads import UploadManager

            ctx.uploads = UploadManager(
                settings=settings, producer=acking, serde=serde, store=store, metrics=metrics
            )
            stack.callback(ctx.uploads.close)
        yield ctx


def _follow_devices(
    settings: IngestSettings, serde: AvroSerde, acking: AckingProducer, stack: contextlib.ExitStack
) -> tuple[DeviceStore | None, DeviceActivity | None]:
    """The API-managed device registry, followed live, and the device-status reporter."""
    if not settings.ingest_follow_devices:
        return None, None
    store = DeviceStore()
    follower = ApiKeyFollower(
        consumer=make_consumer(
            settings, f"{settings.topic_prefix}platestream-ingest-devices-{uuid.uuid4().hex[:8]}"
        ),
        serde=serde,
        topic=settings.topic(catalogue.DEVICES.name),
        store=store,
    ).start()
    stack.callback(follower.stop)
    activity = DeviceActivity()
    reporter = DeviceStatusReporter(
        activity=activity,
        producer=acking,
        serde=serde,
        topic=DeviceStatusReporter.topic_name(settings),
        interval_s=settings.ingest_device_status_s,
    ).start()
    stack.callback(reporter.stop)
    return store, activity


def _follow_cameras(
    settings: IngestSettings, serde: AvroSerde, stack: contextlib.ExitStack
) -> CameraDirectory | None:
    """The cameras topic, followed live, so pushes of a disabled camera are refused."""
    if not settings.ingest_follow_cameras:
        return None
    cameras = CameraDirectory()
    follower = ApiKeyFollower(
        consumer=make_consumer(
            settings, f"{settings.topic_prefix}platestream-ingest-cameras-{uuid.uuid4().hex[:8]}"
        ),
        serde=serde,
        topic=settings.topic(catalogue.CAMERAS.name),
        store=cameras,
    ).start()
    stack.callback(follower.stop)
    return cameras


class IngestServer:
    """The push server as a stage processor: runs uvicorn until the stop event is set."""

    def __init__(self, *, settings: IngestSettings, stop: threading.Event) -> None:
        self.settings = settings
        self.stop = stop

    def run(self) -> None:
        import uvicorn

        with ingest_context(self.settings) as ctx:
            app = create_app(ctx)
            config = uvicorn.Config(
                app,
                host=self.settings.ingest_host,
                port=self.settings.ingest_port,
                log_level="warning",
                access_log=False,
                lifespan="on",
            )
            server = uvicorn.Server(config)

            def watch() -> None:
                self.stop.wait()
                server.should_exit = True

            watcher = threading.Thread(target=watch, daemon=True)
            watcher.start()
            logger.info(
                "ingest server on http://%s:%s",
                self.settings.ingest_host,
                self.settings.ingest_port,
            )
            server.run()


@contextlib.contextmanager
def frame_clients(
    settings: IngestSettings,
) -> Iterator[tuple[AckingProducer, AvroSerde, ImageStore, IngestMetrics, Any]]:
    """Producer, serde, image store, metrics and status publisher for frame sources and files."""
    from services.ingest.status import StatusPublisher

    serde = AvroSerde(settings=settings)
    acking = AckingProducer(
        producer=make_producer(settings), factory=lambda: make_producer(settings)
    ).start()
    try:
        status = StatusPublisher(producer=acking, serde=serde, settings=settings)
        yield acking, serde, make_store(settings), IngestMetrics(), status
    finally:
        acking.close()
