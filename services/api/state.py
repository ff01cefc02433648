"""What the API's routes share: clients, projections and helpers, built once per app."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from platestream.serde import AvroSerde
from services.api.audit import Auditor
from services.api.control import ControlPlane
from services.api.identity import Accounts
from services.api.projection import TopicProjection
from services.api.publish import Publisher
from services.api.ratelimit import FailureWindow, RateLimiter
from services.api.secrets import SecretStore
from services.api.settings import ApiSettings
from services.api.slots import Slots

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

if TYPE_CHECKING:
    from services.api.live import LiveHub
    from services.api.replay import ReplayManager


@dataclass
class AppState:
    settings: ApiSettings
    serde: AvroSerde
    producer: Any
    publisher: Publisher
    clickhouse: Any
    s3: Any
    accounts: Accounts
    cameras: TopicProjection
    bolo: TopicProjection
    acks: TopicProjection
    auditor: Auditor
    limiter: RateLimiter
    login_limiter: RateLimiter
    secrets: SecretStore
    live: LiveHub
    replays: ReplayManager
    control: ControlPlane
    projections: list[TopicProjection] = field(default_factory=list)
    account_failures: FailureWindow = field(default_factory=lambda: FailureWindow(10, 900.0))
    trusted_proxies: tuple[IPNetwork, ...] = ()
    metrics: Any = None
    training_slots: Slots = field(
        default_factory=lambda: Slots(
            "training exports", per_user=1, per_process=4, retry_after_s=10
        )
    )
    corrected: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # event_id -> last correction made here
