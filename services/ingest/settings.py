"""Typed settings of the ingest stage (env prefix PLATESTREAM_INGEST_...)."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

from platestream.limits import CAMERA_ID_PATTERN
from platestream.proxies import IPNetwork, parse_cidrs
from platestream.settings import CommonSettings, load


class DeviceConfig(BaseModel):
    """One device allowed to push: its credential, its camera and its rate limit."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    camera_id: str = Field(pattern=CAMERA_ID_PATTERN, description="Letters, digits, . _ : -")
    secret: str = Field(
        min_length=8, description="API key (X-API-Key header) or HTTP basic password."
    )
    username: str | None = Field(
        default=None, description="HTTP basic user name; default: the device id."
    )
    rate_per_s: float = Field(default=50.0, gt=0, description="Sustained pushes per second.")
    burst: int = Field(default=100, ge=1, description="Token-bucket size.")
    sources: list[str] = Field(
        default_factory=list, description="Formats this device may push; empty: any."
    )


class IngestSettings(CommonSettings):
    """Ingest server, camera connectors, MQTT bridge and frame sources."""

    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8080
    ingest_max_body_bytes: int = Field(
        default=16 * 1024 * 1024, description="Larger pushes get 413."
    )
    ingest_inline_image_bytes: int = Field(
        default=256 * 1024,
        description="Images up to this size travel inline; larger ones by claim check.",
    )
    ingest_ack_timeout_s: float = Field(
        default=15.0, description="Wait this long for the broker's ack."
    )
    ingest_devices: dict[str, DeviceConfig] = Field(
        default_factory=dict,
        description="device id -> DeviceConfig, as JSON; or PLATESTREAM_INGEST_DEVICES_FILE (YAML/JSON).",
    )
    ingest_devices_file: Path | None = None
    ingest_api_keys: bool = Field(
        default=True, description="Also accept device keys (role 'device') from the api-keys topic."
    )
    ingest_follow_devices: bool = Field(
        default=True,
        description="Also accept devices managed through the API (anpr.devices.v1), followed live.",
    )
    ingest_device_status_s: float = Field(
        default=10.0,
        gt=0,
        le=300,
        description="How often per-device activity is published to anpr.device-status.v1.",
    )
    ingest_upload_dir: Path | None = Field(
        default=None, description="Where uploaded videos are spooled."
    )
    ingest_upload_max_bytes: int = 2 * 1024 * 1024 * 1024
    ingest_upload_fps: float = Field(
        default=5.0, gt=0, description="Frames per second taken from uploads."
    )

    ingest_mqtt_host: str = "127.0.0.1"
    ingest_mqtt_port: int = 1883
    ingest_mqtt_topic: str = "lpr/data/edge/+"
    ingest_mqtt_username: str | None = None
    ingest_mqtt_password: str | None = None

    ingest_frame_fps: float = Field(default=5.0, gt=0, description="Frame-rate cap per camera.")
    ingest_frame_jpeg_quality: int = Field(default=85, ge=10, le=100)
    ingest_frame_dup_threshold: float = Field(
        default=1.0,
        ge=0,
        description="Mean abs diff (0..255, on a 64x36 grey thumbnail) under which a frame is a duplicate.",
    )
    ingest_frame_motion_threshold: float = Field(
        default=0.0,
        ge=0,
        description="Frames whose diff to the last sent frame is below this are skipped (0: off).",
    )
    ingest_frame_keepalive_s: float = Field(
        default=10.0, description="Send a frame at least this often even without motion."
    )
    ingest_heartbeat_s: float = Field(
        default=30.0, gt=0, description="Camera-status heartbeat period."
    )
    ingest_reconnect_min_s: float = 0.5
    ingest_reconnect_max_s: float = 30.0

    # camera manager (`platestream ingest cameras`) and the push server's camera check
    ingest_follow_cameras: bool = Field(
        default=True,
        description="The push server follows anpr.cameras.v1 and answers 403 for disabled cameras.",
    )
    ingest_secrets_dir: Path | None = Field(
        default=None, description="Camera credentials (secret store); default <var_dir>/secrets."
    )
    ingest_manager_id: str | None = Field(
        default=None, description="This camera-manager replica's name; default host-pid."
    )
    ingest_cameras_metrics_port: int = Field(
        default=9107, ge=0, le=65535, description="Camera manager metrics and /health; 0: off."
    )
    ingest_camera_restart_limit: int = Field(
        default=10, ge=1, description="Restarts within the window before a camera is paused."
    )
    ingest_camera_restart_window_s: float = Field(default=300.0, gt=0)
    ingest_camera_cooloff_s: float = Field(
        default=300.0, ge=0, description="How long a flapping camera is paused."
    )
    ingest_camera_max_pending: int = Field(
        default=32, ge=1, description="Unacknowledged frames per camera before frames are dropped."
    )
    ingest_camera_stop_timeout_s: float = Field(
        default=5.0, gt=0, description="Wait this long for a camera's source to stop."
    )

    ingest_trusted_proxies: list[str] = Field(
        default_factory=list,
        description=(
            "CIDRs of reverse proxies / load balancers in front of ingest whose Forwarded or"
            " X-Forwarded-For header is believed for the device's address (default none)."
        ),
    )

    @field_validator("ingest_trusted_proxies")
    @classmethod
    def _proxy_cidrs(cls, value: list[str]) -> list[str]:
        parse_cidrs(value, setting="ingest_trusted_proxies")
        return value

    def trusted_proxies(self) -> tuple[IPNetwork, ...]:
        return parse_cidrs(self.ingest_trusted_proxies, setting="ingest_trusted_proxies")

    @field_validator("ingest_devices", mode="before")
    @classmethod
    def _devices_from_json(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @property
    def secrets_dir(self) -> Path:
        return self.ingest_secrets_dir or (self.var_dir / "secrets")

    def devices(self) -> dict[str, DeviceConfig]:
        """The device registry: the inline JSON merged with the devices file."""
        devices = dict(self.ingest_devices)
        if self.ingest_devices_file is not None:
            raw = yaml.safe_load(self.ingest_devices_file.read_text(encoding="utf-8")) or {}
            if not isinstance(raw, dict):
                raise ValueError(
                    f"{self.ingest_devices_file}: expected a mapping of device id -> device"
                )
            devices.update({k: DeviceConfig.model_validate(v) for k, v in raw.items()})
        return devices


@lru_cache(maxsize=1)
def ingest_settings() -> IngestSettings:
    return load(IngestSettings)
