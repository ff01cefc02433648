"""The notifier as a faust-streaming app: alerts in, deliveries out, a table of what was delivered.

Low rate and I/O bound (HTTP, MQTT, SMTP), so faust's per-message overhead does not matter here and
its table with a changelog gives the dedup state for free: ``delivered[delivery_id]`` is set after
a successful delivery, so an alert record seen twice (a re-emitted alert after an enrich restart,
a redelivered record after a notifier restart) is delivered once per target. Alerts are keyed by
camera, so both copies land in the same partition and are handled in order by one agent.
The table is written after the delivery: a crash between the two may deliver once more
(at-least-once); receivers can dedupe on ``X-Platestream-Alert-Id``.
"""

from __future__ import annotations

import logging
from typing import Any

import faust

from platestream import topics as catalogue
from platestream.errors import SerdeError
from platestream.serde import AvroSerde
from services.enrich.notify import Notifier, delivery_id, targets_for
from services.enrich.settings import NotifySettings

logger = logging.getLogger(__name__)


def faust_common(settings: Any, app_id: str, web_port: int) -> dict[str, Any]:
    """faust settings for the local broker (and real Kafka): short session, no exactly-once."""
    return {
        "id": app_id,
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


def build_notify_app(settings: NotifySettings) -> faust.App:
    app = faust.App(
        **faust_common(
            settings, f"{settings.topic_prefix}{settings.notify_group_id}", settings.notify_web_port
        )
    )
    serde = AvroSerde(settings.schema_registry_url)
    alerts = app.topic(
        settings.topic(catalogue.ALERTS.name),
        value_serializer="raw",
        key_serializer="raw",
        partitions=catalogue.partitions_for(catalogue.ALERTS, settings),
    )
    deliveries_topic = settings.topic(catalogue.ALERT_DELIVERIES.name)
    deliveries = app.topic(deliveries_topic, value_serializer="raw", key_serializer="raw")
    dlq_topic = settings.topic(catalogue.dead_letter_topic("notify").name)
    dlq = app.topic(dlq_topic, value_serializer="raw", key_serializer="raw")
    # keys and values use faust's table codecs (json): delivery id -> {"ts", "attempts"}
    delivered = app.Table(
        "delivered", default=None, partitions=catalogue.partitions_for(catalogue.ALERTS, settings)
    )
    notifier = Notifier(settings)

    async def dead_letter(value: bytes, key: bytes | None, error: str, event: Any) -> None:
        from platestream.timeutil import now_ms

        rec = {
            "stage": "notify",
            "error_type": "delivery" if event else "decode",
            "error": error[:4000],
            "ts": now_ms(),
            "key": key,
            "value": value or b"",
            "source_topic": event.message.topic if event else None,
            "source_partition": event.message.partition if event else None,
            "source_offset": event.message.offset if event else None,
        }
        await dlq.send(
            key=key, value=serde.encode("dead_letter", rec, subject=f"{dlq_topic}-value")
        )

    @app.agent(alerts)
    async def deliver(stream: Any) -> Any:
        async for event in stream.events():
            value: bytes = event.value
            key: bytes | None = event.key
            where = f"{event.message.topic}[{event.message.partition}]@{event.message.offset}"
            try:
                alert = serde.decode(value)
            except SerdeError as exc:
                logger.warning("dead-lettering %s: %s", where, exc)
                await dead_letter(value, key, str(exc), event)
                continue
            alert_id = alert["alert_id"]
            for route in targets_for(alert, settings.notify_routes):
                did = delivery_id(alert_id, route.channel, route.target)
                if delivered.get(did):
                    logger.info(
                        "alert %s already delivered to %s (%s); skipping",
                        alert_id,
                        route.channel,
                        where,
                    )
                    continue
                outcome = await notifier.deliver(alert, route)
                rec = outcome.record(alert_id)
                await deliveries.send(
                    key=alert_id.encode(),
                    value=serde.encode("alert_delivery", rec, subject=f"{deliveries_topic}-value"),
                )
                if outcome.status == "delivered":
                    delivered[did] = {"ts": rec["ts"], "attempts": outcome.attempts}
                else:
                    await dead_letter(
                        value, key, f"{route.channel} {route.target}: {outcome.error}", event
                    )
            yield alert_id

    return app
