"""The "send test" of an alert route: one attempt through notify's own channel code, so what the
console shows is what notify would do (same signing, MQTT login, SMTP TLS), without retries."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

from platestream.settings import CommonSettings
from platestream.timeutil import now_ms
from services.api.state import AppState
from services.enrich.notify import Notifier
from services.enrich.routes import route_from_record
from services.enrich.settings import NotifySettings


def sample_alert(record: dict[str, Any], actor: str) -> dict[str, Any]:
    now = now_ms()
    return {
        "alert_id": f"test-{secrets.token_hex(8)}",
        "test": True,
        "entry_id": "test",
        "list_id": (record.get("lists") or ["test"])[0],
        "list_kind": "bolo",
        "pattern": "TEST000",
        "match_type": "exact",
        "reason": f"test send by {actor}",
        "priority": "critical",
        "event_id": "test",
        "camera_id": "test",
        "camera_name": "Test camera",
        "plate": "TEST000",
        "confidence": 1.0,
        "ts": now,
        "emitted_at": now,
    }


async def send_test_alert(state: AppState, record: dict[str, Any], *, actor: str) -> dict[str, Any]:
    s = state.settings
    route = route_from_record(record, state.secrets)
    common = {k: getattr(s, k) for k in CommonSettings.model_fields}
    settings = NotifySettings(
        **common,
        notify_max_attempts=1,
        notify_webhook_timeout_s=5.0,
        notify_allow_private_targets=s.api_allow_private_targets,
        notify_webhook_secret=route.secret or secrets.token_urlsafe(24),
        notify_follow_routes=False,
    )

    async def kafka_send(topic: str, key: bytes, value: bytes) -> None:
        await asyncio.to_thread(state.publisher.produce_raw, topic, key, value, timeout=5.0)

    alert = sample_alert(record, actor)
    notifier = Notifier(settings, kafka_send=kafka_send)
    try:
        outcome = await notifier.deliver(alert, route)
    finally:
        await notifier.close()
    return {
        "status": outcome.status,
        "attempts": outcome.attempts,
        "error": outcome.error,
        "alert_id": alert["alert_id"],
    }
