"""Alert delivery: routes, channels (webhook, MQTT, e-mail), retries, outcome records.

The same channels carry anomalies (clone, misread, overstay: notify_anomalies.py) to the routes
whose ``kinds`` name them, with the anomaly id where an alert has its alert id.

Engine-agnostic: ``Notifier.handle(alert)`` delivers one alert to every target its routes name and
returns the outcome records; the faust app (``notify_app.py``) feeds it alerts and skips the
targets already delivered to (read back from the deliveries topic, ``notify_delivered.py``), so an
alert seen twice is delivered once per target.

Webhooks are POSTed as JSON with ``X-Platestream-Signature: sha256=<hex HMAC-SHA256 of
"<timestamp>.<body>" under the shared secret>`` and ``X-Platestream-Timestamp``, so a receiver can
verify origin and reject replays. The same request carries the Standard Webhooks headers
(``webhook-id`` = the alert id, ``webhook-timestamp``, ``webhook-signature: v1,<base64>``), so
receivers built on that spec's libraries verify it and drop a redelivered copy by its id:
delivery is at-least-once (docs/enrich.md). Failures (connection errors, 5xx, 408, 429) are retried with
exponential backoff and full jitter up to ``notify_max_attempts``; other 4xx answers are final.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import random
import smtplib
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

import httpx

from platestream.ids import stable_id
from platestream.netguard import TargetRefused, check_url
from platestream.timeutil import now_ms
from services.enrich import notify_anomalies as anomalies
from services.enrich.settings import NotifySettings, Route

logger = logging.getLogger(__name__)

PRIORITY = {"low": 0, "medium": 1, "high": 2, "critical": 3}
RETRYABLE_STATUS = {408, 425, 429}
ALERT_EMAIL_FIELDS = (
    "plate",
    "camera_id",
    "camera_name",
    "site",
    "zone",
    "list_id",
    "reason",
    "priority",
    "ts",
    "event_id",
    "alert_id",
)


class DeliveryError(Exception):
    """A delivery attempt failed; ``retryable`` says whether another attempt may succeed."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


def targets_for(alert: dict[str, Any], routes: list[Route]) -> list[Route]:
    """Routes that take this alert (by list and minimum priority), one per channel and target."""
    level = PRIORITY.get(str(alert.get("priority", "medium")).lower(), 1)
    out: dict[tuple[str, str], Route] = {}
    for r in routes:
        if "watchlist" not in r.kinds:
            continue
        if r.lists and alert.get("list_id") not in r.lists:
            continue
        if level < PRIORITY[r.min_priority]:
            continue
        out.setdefault((r.channel, r.target), r)
    return list(out.values())


def message_id(msg: dict[str, Any]) -> str:
    """The id receivers dedupe on: an alert's alert_id, an anomaly's anomaly_id."""
    return str(msg.get("alert_id") or msg.get("anomaly_id"))


def delivery_id(alert_id: str, channel: str, target: str) -> str:
    return stable_id(alert_id, channel, target)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def standard_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """The Standard Webhooks ``webhook-signature``: ``v1,`` + base64 HMAC-SHA256 of
    ``"<id>.<timestamp>.<body>"``; a ``whsec_`` secret is base64 (as the spec's), others raw."""
    key = base64.b64decode(secret[6:]) if secret.startswith("whsec_") else secret.encode()
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def backoff_s(attempt: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Full jitter: uniform in [0, min(cap, base * 2**(attempt-1))]."""
    r = rng or random
    return r.uniform(0, min(cap, base * (2 ** (attempt - 1))))


def alert_json(alert: dict[str, Any]) -> bytes:
    body = {k: v for k, v in alert.items() if not isinstance(v, bytes)}
    return json.dumps(body, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Outcome:
    channel: str
    target: str
    status: str  # delivered | failed
    attempts: int
    error: str | None = None

    def record(self, alert_id: str) -> dict[str, Any]:
        return {
            "delivery_id": delivery_id(alert_id, self.channel, self.target),
            "alert_id": alert_id,
            "channel": self.channel,
            "target": self.target,
            "status": self.status,
            "attempts": self.attempts,
            "error": self.error,
            "ts": now_ms(),
        }


class Notifier:
    """Delivers alerts to the routed targets with retries."""

    def __init__(
        self,
        settings: NotifySettings,
        *,
        http: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        kafka_send: Callable[[str, bytes, bytes], Awaitable[None]] | None = None,
    ) -> None:
        self.settings = settings
        self._http = http
        self._sleep = sleep
        self._kafka_send = kafka_send
        self._mqtt: dict[tuple[str, int, str, str], Any] = {}  # one client per broker and login

    async def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.settings.notify_webhook_timeout_s)
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
        for client in self._mqtt.values():
            client.loop_stop()
            client.disconnect()
        self._mqtt.clear()

    async def deliver(self, alert: dict[str, Any], route: Route) -> Outcome:
        """One target, with retries and backoff."""
        s = self.settings
        error = None
        for attempt in range(1, s.notify_max_attempts + 1):
            try:
                await self._send(alert, route)
                return Outcome(route.channel, route.target, "delivered", attempt)
            except DeliveryError as exc:
                error = str(exc)
                logger.warning(
                    "alert %s to %s %s: attempt %d failed: %s",
                    message_id(alert),
                    route.channel,
                    route.target,
                    attempt,
                    exc,
                )
                if not exc.retryable:
                    return Outcome(route.channel, route.target, "failed", attempt, error)
            except (
                Exception
            ) as exc:  # a bug or an unexpected library error: final, never kills the agent
                logger.exception(
                    "alert %s to %s %s: unexpected error",
                    message_id(alert),
                    route.channel,
                    route.target,
                )
                return Outcome(
                    route.channel, route.target, "failed", attempt, f"{type(exc).__name__}: {exc}"
                )
            if attempt < s.notify_max_attempts:
                await self._sleep(
                    backoff_s(attempt, s.notify_backoff_base_s, s.notify_backoff_max_s)
                )
        return Outcome(route.channel, route.target, "failed", s.notify_max_attempts, error)

    async def _send(self, alert: dict[str, Any], route: Route) -> None:
        if route.channel == "webhook":
            await self._webhook(alert, route)
        elif route.channel == "kafka":
            if self._kafka_send is None:
                raise DeliveryError("no Kafka producer for kafka routes", retryable=False)
            key = str(alert.get("camera_id") or message_id(alert)).encode()
            await self._kafka_send(route.target, key, alert_json(alert))
        elif route.channel == "mqtt":
            await asyncio.get_running_loop().run_in_executor(None, self._mqtt_publish, alert, route)
        else:
            await asyncio.get_running_loop().run_in_executor(None, self._email, alert, route)

    async def _webhook(self, alert: dict[str, Any], route: Route) -> None:
        url = route.target
        if route.route_id is not None:  # user-managed: checked again at send (DNS may have moved)
            try:
                await asyncio.get_running_loop().run_in_executor(
                    None,
                    lambda: check_url(
                        url, allow_private=self.settings.notify_allow_private_targets
                    ),
                )
            except TargetRefused as exc:
                raise DeliveryError(f"target refused: {exc}", retryable=False) from exc
        body = alert_json(alert)
        msg_id = message_id(alert)
        ts = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Platestream-Timestamp": ts,
            "X-Platestream-Signature": sign(
                route.secret or self.settings.notify_webhook_secret, ts, body
            ),
            "X-Platestream-Alert-Id": msg_id,
            "webhook-id": msg_id,
            "webhook-timestamp": ts,
            "webhook-signature": standard_signature(
                route.secret or self.settings.notify_webhook_secret,
                msg_id,
                ts,
                body,
            ),
        }
        client = await self._client()
        try:
            resp = await client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code >= 300:
            retry = resp.status_code >= 500 or resp.status_code in RETRYABLE_STATUS
            raise DeliveryError(f"HTTP {resp.status_code}", retryable=retry)

    def _mqtt_client(self, route: Route) -> Any:
        import paho.mqtt.client as mqtt

        host = route.host or self.settings.notify_mqtt_host
        port = route.port or self.settings.notify_mqtt_port
        key = (host, port, route.username or "", route.tls)
        if key in self._mqtt:
            return self._mqtt[key]
        connected = threading.Event()
        answer: list[Any] = []

        def on_connect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any = None) -> None:
            answer.append(reason)
            connected.set()

        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"platestream-notify-{stable_id(time.time(), key)[:8]}",
        )
        client.on_connect = on_connect
        if route.username:
            client.username_pw_set(route.username, route.password)
        if route.tls != "none":
            client.tls_set()
        try:
            client.connect(host, port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise DeliveryError(f"MQTT connect: {exc}") from exc
        client.loop_start()
        if not connected.wait(self.settings.notify_webhook_timeout_s) or answer[0].is_failure:
            client.loop_stop()
            client.disconnect()
            why = str(answer[0]) if answer else "no answer"
            raise DeliveryError(f"MQTT connect to {host}:{port}: {why}", retryable=bool(not answer))
        self._mqtt[key] = client
        return client

    def _mqtt_publish(self, alert: dict[str, Any], route: Route) -> None:
        info = self._mqtt_client(route).publish(route.target, alert_json(alert), qos=1)
        try:
            info.wait_for_publish(timeout=self.settings.notify_webhook_timeout_s)
        except (RuntimeError, ValueError) as exc:
            raise DeliveryError(f"MQTT publish: {exc}") from exc
        if not info.is_published():
            raise DeliveryError(f"MQTT publish not acknowledged (rc {info.rc})")

    def _email(self, alert: dict[str, Any], route: Route) -> None:
        s = self.settings
        address = route.target
        msg = EmailMessage()
        msg["From"] = route.sender or s.notify_smtp_from
        msg["To"] = address
        if "anomaly_id" in alert:
            msg["Subject"] = anomalies.email_subject(alert)
            lines = anomalies.email_lines(alert)
        else:
            msg["Subject"] = (
                f"[platestream] {alert.get('priority', '').upper()} watchlist hit at {alert.get('camera_name') or alert.get('camera_id')}"
            )
            lines = [f"{k}: {alert.get(k)}" for k in ALERT_EMAIL_FIELDS]
        msg["X-Platestream-Alert-Id"] = message_id(alert)
        msg.set_content("\n".join(lines))
        host = route.host or s.notify_smtp_host
        port = route.port or s.notify_smtp_port
        # the server's certificate is verified (smtplib alone would not check it)
        tls = ssl.create_default_context()
        timeout = s.notify_webhook_timeout_s
        try:
            with (
                smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls)
                if route.tls == "tls"
                else smtplib.SMTP(host, port, timeout=timeout)
            ) as smtp:
                if route.tls == "starttls":
                    smtp.starttls(context=tls)
                if route.username:
                    smtp.login(route.username, route.password or "")
                smtp.send_message(msg)
        except smtplib.SMTPResponseException as exc:
            raise DeliveryError(f"SMTP {exc.smtp_code}", retryable=exc.smtp_code < 500) from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP: {exc}") from exc
