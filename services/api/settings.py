"""Typed settings of the API stage (env prefix PLATESTREAM_, own fields prefixed api_)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator

from platestream.settings import CommonSettings

WEB_DIR = Path(__file__).resolve().parent / "web"
# Why a user may look at plate data; a deployment names its own (api_purposes).
DEFAULT_PURPOSES = (
    "investigation",
    "incident",
    "watchlist_check",
    "access_control",
    "data_quality",
    "subject_access",
    "audit",
)


class ApiSettings(CommonSettings):
    """Settings of `platestream api`."""

    uses_jwt_secret = True  # signs and verifies access, refresh and upload tokens
    uses_privacy_subject_key = True  # names the plate of an erasure request by its HMAC
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_access_token_ttl_s: int = Field(default=900, ge=5, description="Lifetime of an access JWT.")
    api_refresh_token_ttl_s: int = Field(default=7 * 24 * 3600, ge=60)
    api_rate_per_s: float = Field(
        default=20.0, gt=0, description="Sustained requests/s per user or key."
    )
    api_rate_burst: int = Field(default=60, ge=1, description="Token bucket size per user or key.")
    api_login_rate_per_s: float = Field(
        default=2.0, gt=0, description="Login attempts/s per client address."
    )
    api_login_burst: int = Field(default=10, ge=1)
    api_login_account_failures: int = Field(
        default=10,
        ge=1,
        description="Failed logins of one username (from any address) per window; 429 past it.",
    )
    api_login_account_window_s: float = Field(default=900.0, gt=0, le=86_400)
    api_trusted_proxies: list[str] = Field(
        default_factory=list,
        description="CIDRs of reverse proxies whose X-Forwarded-For is believed (default none).",
    )
    api_presign_ttl_s: int = Field(default=300, ge=10, le=7 * 24 * 3600)
    api_original_image_roles: list[str] = Field(
        default_factory=list,
        description="Roles shown the unredacted originals the sink keeps under originals/ (none).",
    )
    api_page_max: int = Field(default=500, ge=1)
    api_replay_max_per_user: int = Field(
        default=1, ge=1, description="Replays one user or key may run at once; 429 past it."
    )
    api_replay_max_running: int = Field(
        default=4, ge=1, description="Replays one API process runs at once; 429 past it."
    )
    api_replay_page_rows: int = Field(
        default=2000,
        ge=1,
        le=100_000,
        description="Index rows a replay reads, fetches from the topic and publishes per step.",
    )
    api_training_max_per_user: int = Field(
        default=1, ge=1, description="Training ZIPs one user or key may download at once."
    )
    api_training_max_running: int = Field(
        default=4, ge=1, description="Training ZIPs one API process streams at once."
    )
    api_training_max_bytes: int = Field(
        default=1024 * 1024 * 1024,
        ge=1024,
        description="Image bytes in one training ZIP; past it the ZIP ends with TRUNCATED.txt.",
    )
    api_training_max_image_bytes: int = Field(
        default=8 * 1024 * 1024,
        ge=1024,
        description="A larger crop is left out of the training ZIP (counted as missing).",
    )
    api_export_max_rows: int = Field(default=1_000_000, ge=1)
    api_audit_timeout_s: float = Field(
        default=5.0,
        gt=0,
        le=60,
        description="Wait for the audit record of an export this long; 503 without it.",
    )
    api_live_queue: int = Field(
        default=256, ge=1, description="Per-client live queue; oldest dropped when full."
    )
    api_live_enabled: bool = True
    api_live_max_clients: int = Field(
        default=500, ge=1, description="Live-feed subscribers of one API process; 429 past it."
    )
    api_live_max_per_user: int = Field(
        default=5, ge=1, description="Live feeds one user or API key may hold open at once."
    )
    api_live_recheck_s: float = Field(
        default=15.0,
        gt=0,
        le=300,
        description="Seconds between re-checks of a live-feed user (disabled or deleted: closed).",
    )
    api_projections_enabled: bool = True
    api_review_threshold: float = Field(
        default=0.7, ge=0, le=1, description="Events below this confidence need review."
    )
    api_replay_max_events: int = Field(default=1_000_000, ge=1)
    api_purposes: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PURPOSES),
        min_length=1,
        description="Purposes a search, export, replay or image view may state (issue 17).",
    )
    api_purpose_roles: list[str] = Field(
        default_factory=lambda: ["admin", "operator", "analyst", "viewer"],
        description="Roles that must state a purpose (422 without one); [] turns the requirement off.",
    )
    api_query_timeout_s: int = Field(default=30, ge=1)
    api_web_dir: Path = WEB_DIR
    api_secrets_dir: Path | None = Field(
        default=None,
        description="Secret store for camera credentials (one 0600 file per secret); default <var_dir>/secrets.",
    )

    api_ingest_url: str = Field(
        default="http://127.0.0.1:8080",
        description="Ingest's base URL: console uploads are forwarded there.",
    )
    api_allow_private_targets: bool = Field(
        default=False,
        description="Let alert routes reach loopback, link-local and cloud-metadata addresses.",
    )

    @field_validator("api_trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"api_trusted_proxies: {cidr!r} is not a CIDR") from exc
        return value

    @property
    def secrets_dir(self) -> Path:
        return self.api_secrets_dir or (self.var_dir / "secrets")
