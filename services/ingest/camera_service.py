"""Wiring of the camera manager: clients opened in order, the manager handed back, all closed in
reverse (sources stopped before the group is left and the producer flushed)."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

from confluent_kafka import Consumer

from platestream import topics as catalogue
from platestream.dlq import DeadLetters
from platestream.secrets import SecretStore
from platestream.serde import AvroSerde
from platestream.state import StateFollower
from services.ingest.camera_config import CameraConfig
from services.ingest.camera_sources import CameraRunner, DahuaRunner, Runner
from services.ingest.cameras import GROUP, CameraManager, SlotMembership, manager_id
from services.ingest.frames import FramePublisher
from services.ingest.metrics import IngestMetrics
from services.ingest.publisher import AckingProducer, EventPublisher, ImageStore
from services.ingest.settings import IngestSettings
from services.ingest.status import StatusPublisher

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def camera_manager(
    settings: IngestSettings,
    stop: threading.Event,
    *,
    realtime: bool = True,
    store: ImageStore | None = None,
    metrics: IngestMetrics | None = None,
    shared: bool = True,
) -> Iterator[CameraManager]:
    """A ready camera manager: cameras topic read to the end, group joined (``shared``), or every
    camera run here (``shared=False``, a single replica). ``run()`` it; leaving closes all."""
    from platestream.kafka import make_producer
    from services.ingest.processor import make_store

    member = manager_id(settings)
    with contextlib.ExitStack() as stack:
        serde = AvroSerde(settings=settings)
        acking = AckingProducer(
            producer=make_producer(settings), factory=lambda: make_producer(settings)
        ).start()
        stack.callback(acking.close)
        store = store if store is not None else make_store(settings)
        metrics = metrics or IngestMetrics()
        status = StatusPublisher(producer=acking, serde=serde, settings=settings)
        frames = FramePublisher(
            producer=acking, serde=serde, settings=settings, store=store, metrics=metrics
        )
        events = EventPublisher(producer=acking, serde=serde, settings=settings, store=store)
        dlq = DeadLetters(stage="ingest", producer=acking.current(), serde=serde, settings=settings)
        secrets = SecretStore(settings.secrets_dir)

        def make_runner(cfg: CameraConfig) -> Runner:
            if cfg.kind == "dahua":
                return DahuaRunner(
                    config=cfg,
                    publisher=events,
                    status=status,
                    settings=settings,
                    secrets=secrets,
                    dead_letters=dlq,
                )
            return CameraRunner(
                config=cfg,
                frames=frames,
                status=status,
                settings=settings,
                secrets=secrets,
                manager_id=member,
                metrics=metrics,
                realtime=realtime,
            )

        membership = None
        if shared:
            group = f"{settings.topic_prefix}{GROUP}"
            membership = SlotMembership(
                consumer=Consumer(
                    SlotMembership.consumer_config(settings.kafka_common(), group, member)
                ),
                topic=settings.topic(catalogue.CAMERA_SLOTS.name),
            )
        manager = CameraManager(
            settings=settings,
            make_runner=make_runner,
            status=status,
            stop=stop,
            membership=membership,
            poll_state=lambda: state.poll(),
            manager=member,
        )
        state = StateFollower(
            consumer=Consumer(StateFollower.consumer_config(settings.kafka_common())),
            serde=serde,
            tables={settings.topic(catalogue.CAMERAS.name): manager.apply},
        )
        stack.callback(state.close)
        stack.callback(_await_loop, manager, stop, settings.ingest_camera_stop_timeout_s + 10)
        state.start(timeout_s=30.0)
        if membership is not None:
            membership.start(timeout_s=30.0)
        server = _serve_metrics(settings, metrics, manager)
        if server is not None:
            stack.callback(server.shutdown)
        logger.info(
            "camera manager %s: %d cameras known, %s",
            member,
            len(manager.desired),
            "sharing them with the group" if shared else "running all of them",
        )
        yield manager


def _await_loop(manager: CameraManager, stop: threading.Event, timeout_s: float) -> None:
    """On leaving: stop the loop (if one runs, maybe on another thread) before the clients close."""
    stop.set()
    if manager.looping and not manager.finished.wait(timeout_s):
        logger.warning("camera manager %s: loop still running at exit", manager.manager)


def _serve_metrics(settings: IngestSettings, metrics: IngestMetrics, manager: CameraManager) -> Any:
    """Gauges of the manager on the ingest registry, served with the liveness probes (/health:
    503 when the reconcile loop stops turning, platestream/probes.py) on the metrics port."""
    from prometheus_client import Gauge

    from platestream.probes import start_metrics_server

    running = Gauge(
        "platestream_ingest_cameras_running",
        "Camera sources running here.",
        registry=metrics.registry,
    )
    running.set_function(lambda: sum(1 for r in manager.running.values() if r.alive()))
    desired = Gauge(
        "platestream_ingest_cameras_desired",
        "Cameras in the cameras topic.",
        registry=metrics.registry,
    )
    desired.set_function(lambda: len(manager.desired))
    if not settings.ingest_cameras_metrics_port:
        return None
    server, _thread = start_metrics_server(
        settings.ingest_cameras_metrics_port, addr=settings.metrics_host, registry=metrics.registry
    )
    return server
