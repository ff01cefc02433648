"""Typed settings of the live clone detector (`platestream anomalies`)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from platestream.settings import CommonSettings
from services.investigate.clones import CloneConfig


class TravelTime(BaseModel):
    """Shortest travel time between two cameras (either way), when roads matter more than distance."""

    a: str
    b: str
    min_s: float = Field(gt=0)


class AnomalySettings(CommonSettings):
    """`platestream anomalies`: cloned and misread plates, live. Env PLATESTREAM_ANOMALY_*."""

    anomaly_group_id: str = "platestream-anomalies"
    anomaly_batch_size: int = Field(default=2000, ge=1, le=100_000)
    anomaly_poll_timeout_s: float = Field(default=0.05, gt=0, le=5)
    anomaly_linger_ms: int = Field(default=20, ge=0, le=1000)
    anomaly_max_speed_kmh: float = Field(
        default=250.0, gt=0, description="Faster than this between two cameras is impossible."
    )
    anomaly_skew_s: float = Field(
        default=30.0,
        ge=0,
        description="Clock-skew allowance added to the time between two sightings.",
    )
    anomaly_min_distance_km: float = Field(
        default=1.0, ge=0, description="Cameras closer than this are never compared."
    )
    anomaly_min_confidence: float = Field(
        default=0.6, ge=0, le=1, description="Passages less confident are ignored."
    )
    anomaly_clone_confidence: float = Field(
        default=0.85,
        ge=0,
        le=1,
        description="Both sightings at least this confident, or the conflict is a misread.",
    )
    anomaly_window_s: int = Field(
        default=6 * 3600, gt=0, description="Sightings older than this are forgotten."
    )
    anomaly_sibling_window_s: int = Field(
        default=600,
        ge=0,
        description="A confusable plate seen this close in time to a sighting makes it a misread.",
    )
    anomaly_per_plate: int = Field(default=8, ge=2, le=64, description="Sightings kept per plate.")
    anomaly_max_plates: int = Field(
        default=1_000_000, ge=1, description="Plates remembered (least recently seen dropped)."
    )
    anomaly_travel_times: list[TravelTime] = Field(
        default_factory=list,
        description='JSON list of {"a": camera, "b": camera, "min_s": seconds}.',
    )
    anomaly_metrics_port: int = Field(default=9108, ge=0, le=65535, description="0 disables.")
    anomaly_state_timeout_s: float = Field(
        default=30.0, gt=0, description="Max time to read the cameras at start."
    )

    def clone_config(self) -> CloneConfig:
        return CloneConfig(
            max_speed_kmh=self.anomaly_max_speed_kmh,
            skew_ms=round(self.anomaly_skew_s * 1000),
            min_distance_km=self.anomaly_min_distance_km,
            min_confidence=self.anomaly_min_confidence,
            clone_confidence=self.anomaly_clone_confidence,
            window_ms=self.anomaly_window_s * 1000,
            sibling_window_ms=self.anomaly_sibling_window_s * 1000,
            per_plate=self.anomaly_per_plate,
            max_plates=self.anomaly_max_plates,
            travel_s={(t.a, t.b): t.min_s for t in self.anomaly_travel_times},
        )
