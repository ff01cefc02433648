"""Camera health as a faust-streaming app: a table of camera states with its changelog.

Sources have different partition counts (plate and device events 6, statuses 3, cameras 1), and a
faust table must be co-partitioned with the stream that updates it, so a first agent turns every
input into a small JSON update keyed by camera on an internal topic (the table's partitions), and
a second agent owns the table. A timer asks for a check of every camera that looks overdue by
sending it a "check" update (tables are changed only inside stream processing), and the owning
agent publishes the offline CameraStatus. The same timer sets the Prometheus gauges of cameras
online and offline from the table partitions this worker owns.
"""

from __future__ import annotations

import logging
from typing import Any

import faust
from prometheus_client import CollectorRegistry, Gauge, start_http_server

from platestream import topics as catalogue
from platestream.errors import SerdeError
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from services.enrich.health import (
    count_states,
    go_offline,
    new_state,
    observe,
    overdue,
    status_record,
)
from services.enrich.notify_app import faust_common
from services.enrich.settings import HealthSettings

logger = logging.getLogger(__name__)
PARTITIONS = 3


class HealthGauges:
    """Cameras online and offline now, in their own registry (a process may build several apps)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.online = Gauge(
            "platestream_health_cameras_online",
            "Cameras online now (camera health table).",
            registry=self.registry,
        )
        self.offline = Gauge(
            "platestream_health_cameras_offline",
            "Cameras offline now: quiet for longer than their offline_after_s.",
            registry=self.registry,
        )

    def serve(self, port: int, host: str = "127.0.0.1") -> None:
        start_http_server(port, addr=host, registry=self.registry)


def build_health_app(settings: HealthSettings, *, gauges: HealthGauges | None = None) -> faust.App:
    app_id = f"{settings.topic_prefix}{settings.health_group_id}"
    app = faust.App(**faust_common(settings, app_id, settings.health_web_port))
    serde = AvroSerde(settings=settings)
    t = settings.topic
    status_topic = t(catalogue.CAMERA_STATUS.name)
    cameras_topic = t(catalogue.CAMERAS.name)
    sources = app.topic(
        t(catalogue.PLATE_EVENTS.name),
        t(catalogue.CAMERA_EVENTS.name),
        status_topic,
        cameras_topic,
        value_serializer="raw",
        key_serializer="raw",
    )
    updates = app.topic(
        f"{app_id}-updates",
        partitions=PARTITIONS,
        internal=True,
        key_serializer="raw",
        value_serializer="json",
    )
    status_out = app.topic(status_topic, value_serializer="raw", key_serializer="raw")
    table = app.Table("cameras", default=None, partitions=PARTITIONS)
    default_after = settings.health_default_offline_after_s
    gauges = gauges or HealthGauges()
    updates_name = updates.get_topic_name()

    def publish_counts() -> None:
        if not app.tables.actives_ready:
            return  # a rebalance is reading the table back from its changelog: keep the last figures
        # A worker's table also holds standby copies of other workers' partitions: count only the
        # partitions it owns, so the gauges of all workers add up to the whole fleet.
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == updates_name}
        online, offline = count_states(table.values(), owned)
        gauges.online.set(online)
        gauges.offline.set(offline)

    @app.agent(sources)
    async def forward(stream: Any) -> Any:
        async for event in stream.events():
            msg = event.message
            if event.value is None:
                continue  # a camera tombstone: nothing to watch any more
            try:
                rec = serde.decode(event.value)
                camera_id = rec["camera_id"]
            except (SerdeError, KeyError) as exc:
                logger.warning(
                    "skipping undecodable %s[%s]@%s: %s", msg.topic, msg.partition, msg.offset, exc
                )
                continue
            if msg.topic == cameras_topic:
                if not rec.get("enabled", True):
                    continue
                update = {
                    "kind": "config",
                    "offline_after_s": rec.get("offline_after_s") or default_after,
                }
            elif msg.topic == status_topic:
                if rec.get("source") == "health":
                    continue  # our own output
                update = {
                    "kind": "status",
                    "ts": rec["ts"],
                    "state": rec["state"],
                    "reason": rec.get("reason"),
                }
            else:
                # a no-read device event is still a sign of life; a corrected version is not
                if rec.get("version", 0):
                    continue
                update = {"kind": "event", "ts": rec.get("received_at") or rec["ts"]}
            await updates.send(key=camera_id.encode(), value=update)
            yield None

    @app.agent(updates)
    async def track(stream: Any) -> Any:
        async for event in stream.events():
            camera_id = event.key.decode()
            update = event.value
            now = now_ms()
            state = table.get(camera_id) or new_state(camera_id, default_after)
            state["partition"] = event.message.partition
            try:
                change = observe(state, update, now)
            except (
                KeyError,
                TypeError,
                ValueError,
            ) as exc:  # a malformed update must not stop the agent
                logger.warning("bad health update for camera %s: %s", camera_id, exc)
                continue
            reason = None
            if change == "online":
                reason = "activity resumed"
            elif update["kind"] == "check" and go_offline(state, now):
                quiet = (now - state["last_seen"]) // 1000
                reason = f"no events for {quiet} s (offline after {state['offline_after_s']} s)"
            table[camera_id] = state
            if reason is not None:
                rec = status_record(state, now, reason)
                await status_out.send(
                    key=camera_id.encode(),
                    value=serde.encode("camera_status", rec, subject=f"{status_topic}-value"),
                )
                logger.info("camera %s is %s: %s", camera_id, state["state"], reason)
            yield None

    @app.timer(interval=settings.health_check_interval_s)
    async def check() -> None:
        publish_counts()
        now = now_ms()
        for camera_id, state in list(table.items()):
            if state is not None and overdue(state, now):
                await updates.send(key=camera_id.encode(), value={"kind": "check"})

    return app
