"""Typed settings of the enrich stage, the alert notifier and camera health."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, model_validator

from platestream.settings import CommonSettings


class EnrichSettings(CommonSettings):
    """`platestream enrich`: passage dedup, watchlists, enrichment. Env PLATESTREAM_ENRICH_*."""

    enrich_group_id: str = "platestream-enrich"
    enrich_batch_size: int = Field(default=1000, ge=1, le=100_000)
    enrich_poll_timeout_s: float = Field(default=0.05, gt=0, le=5)
    enrich_linger_ms: int = Field(default=20, ge=0, le=1000)
    enrich_fetch_wait_ms: int = Field(
        default=500,
        ge=1,
        le=5000,
        description=(
            "Longest the broker may hold a fetch (fetch.wait.max.ms). Kafka answers as soon as data"
            " is there; the local broker's S3 engine lists a partition's objects on every fetch and"
            " returns nothing when that takes longer than this, so small values starve enrich."
        ),
    )
    # Passage grouping.
    enrich_max_distance: float = Field(
        default=2.0, ge=0, description="Max weighted edit distance between reads of one passage."
    )
    enrich_gap_ms: int = Field(
        default=3000, gt=0, description="Event-time gap after which a passage closes."
    )
    enrich_idle_close_ms: int = Field(
        default=3000, gt=0, description="Wall-clock idle time after which an open passage closes."
    )
    enrich_max_passage_ms: int = Field(
        default=30_000, gt=0, description="A passage longer than this is emitted (parked vehicle)."
    )
    enrich_holdoff_ms: int = Field(
        default=60_000,
        ge=0,
        description="After a passage closes, reads of the same plate at the same camera/lane within"
        " this time (of the previous read) are absorbed instead of opening a new passage.",
    )
    enrich_device_confidence: float = Field(
        default=0.8, ge=0, le=1, description="Confidence assumed for device reads that give none."
    )
    # Watchlists.
    enrich_early_alert_confidence: float = Field(
        default=0.9, ge=0, le=1, description="A single read this confident alerts before close."
    )
    enrich_lookout: bool = Field(
        default=True,
        description="Read ahead of a lagging loop for BOLO hits (services/enrich/lookout.py).",
    )
    enrich_lookout_lag_ms: int = Field(
        default=2000,
        ge=1,
        description="How far behind (ms since the read was written) the loop may fall on a reads "
        "partition before the lookout reads ahead on it.",
    )
    enrich_lookout_check_ms: int = Field(
        default=500, ge=50, le=60_000, description="How often the lookout compares the lags."
    )
    enrich_recent_events: int = Field(
        default=50_000, ge=0, description="Emitted events kept in memory for corrections."
    )
    enrich_metrics_port: int = Field(default=9102, ge=0, le=65535, description="0 disables.")
    enrich_metrics_host: str = Field(
        default="127.0.0.1", description="Bind address of /metrics (0.0.0.0 in a pod)."
    )
    enrich_state_timeout_s: float = Field(
        default=30.0, gt=0, description="Max time to read the watchlists and cameras at start."
    )


RouteKind = Literal["watchlist", "clone", "misread", "overstay"]
DEFAULT_KINDS: tuple[RouteKind, ...] = ("watchlist",)


class Route(BaseModel):
    """Where alerts of some lists and priorities go.

    Routes from ``PLATESTREAM_NOTIFY_ROUTES`` give channel, target, lists and priority and use the
    stage-wide MQTT/SMTP/signing settings; routes from anpr.alert-routes.v1 (services/enrich/
    routes.py) also carry their own host, login, TLS mode and secret."""

    channel: Literal["webhook", "mqtt", "email", "kafka"]
    target: str  # URL | MQTT topic | e-mail address | Kafka topic
    lists: list[str] = Field(default_factory=list)  # list ids; empty = all
    min_priority: Literal["low", "medium", "high", "critical"] = "low"
    route_id: str | None = None  # set for routes managed through the API
    host: str | None = None
    port: int | None = None
    username: str | None = None
    password: str | None = Field(default=None, repr=False)  # MQTT/SMTP password
    secret: str | None = Field(default=None, repr=False)  # webhook signing secret
    tls: Literal["none", "tls", "starttls"] = "none"
    sender: str | None = None
    # what the route receives: watchlist alerts and/or anomalies of these kinds (notify_anomalies)
    kinds: list[RouteKind] = Field(default_factory=lambda: list(DEFAULT_KINDS))


DEV_WEBHOOK_SECRET = "platestream-dev-webhook-secret"


class NotifySettings(CommonSettings):
    """`platestream notify`: alert delivery. Env PLATESTREAM_NOTIFY_*."""

    notify_group_id: str = "platestream-notify"
    notify_routes: list[Route] = Field(
        default_factory=list,
        description="JSON list of routes: channel, target, lists, min_priority.",
    )
    notify_webhook_secret: str = DEV_WEBHOOK_SECRET
    notify_webhook_timeout_s: float = Field(default=5.0, gt=0)
    notify_max_attempts: int = Field(default=5, ge=1, le=20)
    notify_backoff_base_s: float = Field(default=0.5, ge=0)
    notify_backoff_max_s: float = Field(default=30.0, ge=0)
    notify_mqtt_host: str = "127.0.0.1"
    notify_mqtt_port: int = 1883
    notify_smtp_host: str = "127.0.0.1"
    notify_smtp_port: int = 25
    notify_smtp_from: str = "platestream@localhost"
    notify_web_port: int = Field(default=9104, ge=0, le=65535)
    notify_metrics_port: int = Field(
        default=9109, ge=0, le=65535, description="Prometheus /metrics of the notifier; 0 disables."
    )
    notify_follow_routes: bool = Field(
        default=True,
        description="Also deliver to the routes on anpr.alert-routes.v1, followed live.",
    )
    notify_secrets_dir: Path | None = Field(
        default=None,
        description="Secret store of route secrets (shared with the API); default <var_dir>/secrets.",
    )
    notify_allow_private_targets: bool = Field(
        default=False,
        description="Let API-managed routes reach loopback, link-local and metadata addresses.",
    )

    @model_validator(mode="after")
    def _refuse_default_webhook_secret(self) -> NotifySettings:
        if self.env == "production" and self.notify_webhook_secret == DEV_WEBHOOK_SECRET:
            raise ValueError(
                "the development webhook signing secret is refused in production: set PLATESTREAM_NOTIFY_WEBHOOK_SECRET"
            )
        return self


class HealthSettings(CommonSettings):
    """`platestream health`: camera online/offline table. Env PLATESTREAM_HEALTH_*."""

    health_group_id: str = "platestream-health"
    health_check_interval_s: float = Field(default=5.0, gt=0)
    health_default_offline_after_s: int = Field(default=300, gt=0)
    health_web_port: int = Field(default=9105, ge=0, le=65535)
    health_metrics_port: int = Field(
        default=9106,
        ge=0,
        le=65535,
        description="Prometheus port (0: off); binds PLATESTREAM_METRICS_HOST.",
    )
