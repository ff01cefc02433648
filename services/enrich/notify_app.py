"""The notifier as a faust-streaming app: alerts and anomalies in, deliveries out.

Low rate and I/O bound (HTTP, MQTT, SMTP), so faust's per-message overhead does not matter here.
What was delivered is read back from the deliveries topic itself (notify_delivered.py: at start
and after each assignment, read to every partition's EOF, before an agent handles a record), so an
alert record seen twice (a re-emitted alert after an enrich restart, a redelivered record after a
notifier restart) is delivered once per target. A faust table with a changelog did this before,
but its recovery on the local broker ended early (wrong high watermark) and the restarted notifier
delivered again. Alerts are keyed by camera, so both copies land in the same partition and are
handled in order by one agent. The outcome is produced (and flushed) after the delivery, so
delivery is at-least-once: a notifier killed in between delivers that one again (docs/faults.md);
receivers can dedupe on ``X-Platestream-Alert-Id``. Anomalies (anpr.anomalies.v1: clone, misread,
overstay) follow the same path in an agent of their own to the routes whose ``kinds`` name them
(notify_anomalies.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import faust
from confluent_kafka import Consumer

from platestream import topics as catalogue
from platestream.errors import SerdeError
from platestream.gaps import GapWatch
from platestream.kafka import faust_credentials  # TLS/SASL settings -> faust credentials
from platestream.serde import AvroSerde
from platestream.state import StateFollower
from services.enrich import notify_anomalies as anomalies
from services.enrich.notify import Notifier, delivery_id, message_id, targets_for
from services.enrich.notify_delivered import DeliveredLog
from services.enrich.notify_metrics import NotifyMetrics
from services.enrich.routes import RouteTable
from services.enrich.settings import NotifySettings

logger = logging.getLogger(__name__)


def read_back(
    settings: Any, topic: str, partition: int, offsets: range, timeout_s: float = 15.0
) -> list[tuple[int, bytes | None, bytes | None]]:
    """The records at ``offsets`` of one partition, read with a throwaway consumer (blocking)."""
    import uuid

    from platestream.kafka import consumer_config, read_offsets

    consumer = Consumer(
        consumer_config(settings, f"{settings.topic_prefix}notify-readback-{uuid.uuid4().hex[:8]}")
    )
    try:
        msgs = read_offsets(consumer, topic, partition, offsets, timeout_s)
    finally:
        consumer.close()
    return [(m.offset() or 0, m.key(), m.value()) for m in msgs]


def faust_common(settings: Any, app_id: str, web_port: int) -> dict[str, Any]:
    """faust settings for the local broker (and real Kafka): short session, no exactly-once."""
    datadir = Path(settings.var_dir) / f"{app_id}-data"
    # faust makes only the last level of it, and a fresh PLATESTREAM_VAR_DIR may not exist yet
    datadir.parent.mkdir(parents=True, exist_ok=True)
    return {
        "broker_credentials": faust_credentials(settings),
        "id": app_id,
        # faust's default is "<id>-data" in the working directory: the repository root when
        # run from a checkout (tests left such directories there); the image's WORKDIR is
        # PLATESTREAM_VAR_DIR, so in a container the place is the same
        "datadir": str(datadir),
        "broker": [f"kafka://{h}" for h in settings.kafka_bootstrap.split(",")],
        "store": "memory://",
        "value_serializer": "raw",
        "key_serializer": "raw",
        "broker_session_timeout": 6.0,
        "broker_heartbeat_interval": 0.5,
        "producer_linger": 0.005,
        "topic_replication_factor": settings.replication_factor,
        "topic_allow_declare": True,
        "web_enabled": web_port > 0,
        "web_port": web_port or 6066,
        "web_bind": "127.0.0.1",
        "processing_guarantee": "at_least_once",
        "consumer_auto_offset_reset": "earliest",
    }


def build_notify_app(
    settings: NotifySettings, *, metrics: NotifyMetrics | None = None
) -> faust.App:
    app = faust.App(
        **faust_common(
            settings, f"{settings.topic_prefix}{settings.notify_group_id}", settings.notify_web_port
        )
    )
    serde = AvroSerde(settings=settings)
    m = metrics or NotifyMetrics()
    alerts_topic = settings.topic(catalogue.ALERTS.name)
    alerts = app.topic(
        alerts_topic,
        value_serializer="raw",
        key_serializer="raw",
        partitions=catalogue.partitions_for(catalogue.ALERTS, settings),
    )
    deliveries_topic = settings.topic(catalogue.ALERT_DELIVERIES.name)
    deliveries = app.topic(deliveries_topic, value_serializer="raw", key_serializer="raw")
    dlq_topic = settings.topic(catalogue.dead_letter_topic("notify").name)
    dlq = app.topic(dlq_topic, value_serializer="raw", key_serializer="raw")
    # one set for alerts and anomalies: a delivery id names the message, channel and target
    delivered = DeliveredLog(
        topic=deliveries_topic,
        serde=serde,
        consumer=lambda: Consumer(StateFollower.consumer_config(settings.kafka_common())),
        horizon_ms=catalogue.ALERTS.retention_ms,  # no older alert is left to deliver again
    )

    async def kafka_send(topic: str, key: bytes, value: bytes) -> None:
        fut = await app.topic(topic, value_serializer="raw", key_serializer="raw").send(
            key=key, value=value
        )
        await fut  # the broker's acknowledgement

    notifier = Notifier(settings, kafka_send=kafka_send)
    routes = RouteTable(settings, serde=serde)
    if settings.notify_follow_routes:
        routes.start()  # a daemon thread; alerts wait below until it has read the topic once
    else:
        routes.ready.set()

    anomalies_topic = settings.topic(catalogue.ANOMALIES.name)
    anomalies_in = app.topic(
        anomalies_topic,
        value_serializer="raw",
        key_serializer="raw",
        partitions=catalogue.partitions_for(catalogue.ANOMALIES, settings),
    )
    gaps = {alerts_topic: GapWatch(), anomalies_topic: GapWatch()}

    async def on_assigned(app: Any, assigned: Any, **_: Any) -> None:
        # the previous owner of these partitions may have delivered records we are about to see
        delivered.mark_stale()
        for topic, watch in gaps.items():
            watch.forget({tp.partition for tp in assigned if tp.topic == topic})

    app.on_partitions_assigned.connect(on_assigned)  # type: ignore[arg-type]

    async def dead_letter(
        value: bytes, key: bytes | None, error: str, source: tuple[str, int, int], delivery: bool
    ) -> None:
        from platestream.timeutil import now_ms

        rec = {
            "stage": "notify",
            "error_type": "delivery" if delivery else "decode",
            "error": error[:4000],
            "ts": now_ms(),
            "key": key,
            "value": value or b"",
            "source_topic": source[0],
            "source_partition": source[1],
            "source_offset": source[2],
        }
        await dlq.send(
            key=key, value=serde.encode("dead_letter", rec, subject=f"{dlq_topic}-value")
        )
        m.dead_letters.inc()

    async def routes_ready() -> None:
        if not routes.ready.is_set():
            await asyncio.get_running_loop().run_in_executor(None, routes.ready.wait, 30.0)

    async def deliver_to(
        msg: dict[str, Any],
        targets: list[Any],
        raw: tuple[bytes, bytes | None, tuple[str, int, int]],
    ) -> None:
        """Deliver one alert or anomaly to each target it was not yet delivered to; record
        outcomes."""
        msg_id = message_id(msg)
        value, key, source = raw
        await delivered.current()
        m.delivered_ids.set(len(delivered))
        for route in targets:
            did = delivery_id(msg_id, route.channel, route.target)
            if did in delivered:
                logger.info(
                    "%s already delivered to %s (%s[%d]@%d); skipping",
                    msg_id,
                    route.channel,
                    *source,
                )
                m.deliveries.labels(route.channel, "skipped").inc()
                continue
            started = time.perf_counter()
            outcome = await notifier.deliver(msg, route)
            rec = outcome.record(msg_id)
            m.delivered(msg, route.channel, outcome.status, time.perf_counter() - started)
            await deliveries.send(
                key=msg_id.encode(),
                value=serde.encode("alert_delivery", rec, subject=f"{deliveries_topic}-value"),
            )
            if outcome.status == "delivered":
                delivered.add(did, rec["ts"])
                m.delivered_ids.set(len(delivered))
                # Send the outcome now rather than on faust's next buffer flush: it is what a
                # restarted notifier reads to know this target has the message.
                await app.producer.flush()
            else:
                await dead_letter(
                    value,
                    key,
                    f"{route.channel} {route.target}: {outcome.error}",
                    source,
                    delivery=True,
                )

    async def handle_alert(
        value: bytes, key: bytes | None, source: tuple[str, int, int]
    ) -> str | None:
        try:
            alert = serde.decode(value)
        except SerdeError as exc:
            logger.warning("dead-lettering %s[%d]@%d: %s", *source, exc)
            await dead_letter(value, key, str(exc), source, delivery=False)
            return None
        m.alert_seen(alert)
        await routes_ready()
        await deliver_to(alert, targets_for(alert, routes.current()), (value, key, source))
        return str(alert["alert_id"])

    async def handle_anomaly(
        value: bytes, key: bytes | None, source: tuple[str, int, int]
    ) -> str | None:
        try:
            record = anomalies.check_anomaly(serde.decode(value))
        except (SerdeError, anomalies.BadAnomaly) as exc:
            logger.warning("dead-lettering %s[%d]@%d: %s", *source, exc)
            await dead_letter(value, key, str(exc), source, delivery=False)
            return None
        await routes_ready()
        targets = anomalies.anomaly_targets(record, routes.current())
        raw = (value, key, source)
        await deliver_to(anomalies.message(record), targets, raw)
        return str(record["anomaly_id"])

    async def consume(stream: Any, handle: Any) -> Any:
        """Each record of ``stream`` through ``handle``, reading back offsets the broker skipped."""
        async for event in stream.events():
            msg = event.message
            skipped = gaps[msg.topic].see(msg.partition, msg.offset)
            if skipped is not None:
                logger.warning(
                    "%s[%d]: offsets %d-%d were not delivered to this consumer; reading them back",
                    msg.topic,
                    msg.partition,
                    skipped.start,
                    skipped.stop - 1,
                )
                missing = await asyncio.get_running_loop().run_in_executor(
                    None, read_back, settings, msg.topic, msg.partition, skipped
                )
                if len(missing) < len(skipped):
                    logger.warning(
                        "%s[%d]: read back %d of %d skipped records",
                        msg.topic,
                        msg.partition,
                        len(missing),
                        len(skipped),
                    )
                for off, k, v in missing:
                    if v is not None:
                        await handle(v, k, (msg.topic, msg.partition, off))
            yield await handle(event.value, event.key, (msg.topic, msg.partition, msg.offset))

    @app.agent(alerts)
    async def deliver(stream: Any) -> Any:
        async for result in consume(stream, handle_alert):
            yield result

    @app.agent(anomalies_in)
    async def deliver_anomalies(stream: Any) -> Any:
        async for result in consume(stream, handle_anomaly):
            yield result

    return app
