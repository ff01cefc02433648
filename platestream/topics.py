"""The topic catalogue: every topic the pipeline uses, with its key, partitions, retention and schema.

Keys are chosen for ordering: everything about one camera is keyed by camera id so that one
partition sees a camera's reads in order (dedup and direction need that); compacted state topics
are keyed by the entity id so that the last value per entity wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from platestream.settings import CommonSettings

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class Topic:
    """One topic of the catalogue."""

    name: str
    schema: str  # file stem in schemas/, e.g. "plate_read"
    key: str  # what the record key is, in words
    partitions: int
    retention_ms: int = -1  # -1: keep forever
    compacted: bool = False
    doc: str = ""
    max_message_bytes: int = 2 * 1024 * 1024
    extra_config: dict[str, str] = field(default_factory=dict)

    def config(self) -> dict[str, str]:
        conf = {
            "cleanup.policy": "compact" if self.compacted else "delete",
            "retention.ms": str(self.retention_ms),
            "max.message.bytes": str(self.max_message_bytes),
        }
        conf.update(self.extra_config)
        return conf


CAMERA_EVENTS = Topic(
    "anpr.camera-events.v1",
    "camera_event",
    "camera_id",
    6,
    30 * DAY_MS,
    doc="Plates read by cameras and edge devices themselves, as received by ingest.",
)
FRAMES = Topic(
    "anpr.frames.v1",
    "frame",
    "camera_id",
    6,
    1 * DAY_MS,
    doc="JPEG frames for our detector; large frames by claim check in the bucket.",
)
PLATE_READS = Topic(
    "anpr.plate-reads.v1",
    "plate_read",
    "camera_id",
    6,
    30 * DAY_MS,
    doc="One record per plate per frame, from our detector.",
)
PLATE_EVENTS = Topic(
    "anpr.plate-events.v1",
    "plate_event",
    "camera_id",
    6,
    30 * DAY_MS,
    doc="One record per passage (deduplicated reads), enriched; corrections add versions.",
)
ALERTS = Topic(
    "anpr.alerts.v1",
    "bolo_alert",
    "camera_id",
    3,
    365 * DAY_MS,
    doc="Watchlist hits.",
)
BOLO = Topic(
    "anpr.bolo.v1",
    "bolo_entry",
    "entry_id",
    1,
    compacted=True,
    doc="Watchlist entries; a tombstone deletes. Read in full by every enrich process.",
)
CAMERAS = Topic(
    "anpr.cameras.v1",
    "camera",
    "camera_id",
    1,
    compacted=True,
    doc="Camera configuration; a tombstone deletes.",
)
CORRECTIONS = Topic(
    "anpr.corrections.v1",
    "correction",
    "event_id",
    3,
    # as long as alerts and the audit trail; the sink's corrections table keeps them for
    # PLATESTREAM_SINK_RETENTION_DAYS_CORRECTIONS (730 by default)
    365 * DAY_MS,
    doc="User confirmations and corrections of plate events.",
)
CAMERA_STATUS = Topic(
    "anpr.camera-status.v1",
    "camera_status",
    "camera_id",
    3,
    90 * DAY_MS,
    doc="Online/offline transitions and heartbeats of cameras.",
)
AUDIT = Topic(
    "anpr.audit.v1",
    "audit_record",
    "actor",
    3,
    365 * DAY_MS,
    doc="Every search, export and image view, and every change a user makes.",
)
USERS = Topic(
    "anpr.users.v1",
    "user_event",
    "username",
    1,
    compacted=True,
    doc="User accounts (event-sourced); a tombstone deletes.",
)
API_KEYS = Topic(
    "anpr.api-keys.v1",
    "api_key",
    "key_id",
    1,
    compacted=True,
    doc="Machine API keys; a tombstone deletes.",
)
ALERT_DELIVERIES = Topic(
    "anpr.alert-deliveries.v1",
    "alert_delivery",
    "alert_id",
    3,
    365 * DAY_MS,
    doc="Outcome of each alert delivery on each channel.",
)
ALERT_ACKS = Topic(
    "anpr.alert-acks.v1",
    "alert_ack",
    "alert_id",
    1,
    365 * DAY_MS,
    doc="Users' acknowledgements of alerts.",
)
DEVICES = Topic(
    "anpr.devices.v1",
    "device",
    "device_id",
    1,
    compacted=True,
    doc="Edge devices allowed to push (credential hashes only); a tombstone deletes.",
)
DEVICE_STATUS = Topic(
    "anpr.device-status.v1",
    "device_status",
    "device_id@instance",
    1,
    compacted=True,
    doc="Per device and ingest replica: last seen, pushes and rejects per minute, remote address.",
)
ALERT_ROUTES = Topic(
    "anpr.alert-routes.v1",
    "alert_route",
    "route_id",
    1,
    compacted=True,
    doc="Alert routes (webhook, MQTT, e-mail, Kafka) followed by notify; a tombstone deletes.",
)
CAMERA_SLOTS = Topic(
    "anpr.camera-slots.v1",
    "camera_status",
    "none (nothing is written)",
    24,
    DAY_MS,
    doc=(
        "Coordination of the camera managers: the group's partition assignment is the camera"
        " assignment (a camera runs where partition crc32(camera_id) mod N is assigned)."
    ),
)
ANOMALIES = Topic(
    "anpr.anomalies.v1",
    "plate_anomaly",
    "camera_id (of the later sighting)",
    3,
    365 * DAY_MS,
    doc="Cloned plates and misreads: one plate at two cameras faster than a vehicle can travel.",
)
REPLAY = Topic(
    "anpr.replay.v1",
    "plate_event",
    "camera_id",
    3,
    7 * DAY_MS,
    doc="Stored plate events re-published on request for downstream systems.",
)

ERASURES = Topic(
    "anpr.erasures.v1",
    "erasure_request",
    "erasure_id",
    1,
    # the ledger must outlive every copy it erases (a replay of any topic, a rebuild of any
    # table); it names plates only by their keyed hash (docs/privacy.md, erasure)
    compacted=False,
    doc="Audited erasures of a plate or one plate event; the sink deletes and filters by them.",
)

STAGES = ("ingest", "detect", "enrich", "sink", "notify", "api", "anomalies")


def dead_letter_topic(stage: str) -> Topic:
    """The dead-letter topic of one stage: original bytes, stage and error."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return Topic(
        f"anpr.dlq.{stage}.v1",
        "dead_letter",
        "original key",
        1,
        30 * DAY_MS,
        doc=f"Records and requests the {stage} stage could not process.",
        max_message_bytes=8 * 1024 * 1024,
    )


DEAD_LETTERS = tuple(dead_letter_topic(s) for s in STAGES)

ALL: tuple[Topic, ...] = (
    CAMERA_EVENTS,
    FRAMES,
    PLATE_READS,
    PLATE_EVENTS,
    ALERTS,
    BOLO,
    CAMERAS,
    CORRECTIONS,
    CAMERA_STATUS,
    AUDIT,
    USERS,
    API_KEYS,
    ALERT_DELIVERIES,
    ALERT_ACKS,
    REPLAY,
    CAMERA_SLOTS,
    DEVICES,
    DEVICE_STATUS,
    ALERT_ROUTES,
    ANOMALIES,
    ERASURES,
    *DEAD_LETTERS,
)
BY_NAME = {t.name: t for t in ALL}

# Retention by purpose (docs/privacy.md): a topic is one log for every record, so the policy is
# met per topic. These carry passages and reads whether or not they hit a watchlist: each keeps
# them no longer than the shortest purpose (the sink's no-hit retention, 90 days by default;
# tests/privacy checks it). Hits are kept longer in the alerts topic and in ClickHouse.
NO_HIT_TOPICS = (FRAMES, CAMERA_EVENTS, PLATE_READS, PLATE_EVENTS, REPLAY)


def partitions_for(topic: Topic, settings: CommonSettings) -> int:
    return settings.partitions_override or topic.partitions
