"""Devices managed through the API: the ``anpr.devices.v1`` store ingest follows, and per-device
activity (last seen, pushes and rejects per minute, remote address) reported on
``anpr.device-status.v1``.

The store is filled by ``ApiKeyFollower`` (services/ingest/devices.py) reading the compacted topic
from the beginning, so a device created, rotated or revoked through the API is accepted or refused
here within the follower's poll interval, with no restart. The env/file registry stays as
bootstrap and is consulted first.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from platestream import topics as catalogue
from platestream.credentials import credential_matches, split_credential
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from services.ingest.devices import AuthError, Principal

logger = logging.getLogger(__name__)

MAX_TRACKED_DEVICES = 10_000  # a share per tenant: activity of more devices than this is not kept
MAX_EVENTS_PER_DEVICE = 6_000  # per minute window (100/s); beyond that the count saturates


class DeviceStore:
    """Device records by id, with an index from credential id to device id."""

    def __init__(self) -> None:
        self._devices: dict[str, dict[str, Any]] = {}
        self._by_credential: dict[str, str] = {}
        self._lock = threading.Lock()
        self.ready = threading.Event()

    def apply(self, device_id: str, record: dict[str, Any] | None) -> None:
        with self._lock:
            old = self._devices.pop(device_id, None)
            if old is not None:
                self._by_credential.pop(str(old.get("credential_id")), None)
            if record is not None:
                self._devices[device_id] = record
                self._by_credential[str(record["credential_id"])] = device_id

    def __len__(self) -> int:
        with self._lock:
            return len(self._devices)

    def _principal(self, device_id: str, record: dict[str, Any]) -> Principal:
        if record.get("revoked"):
            raise AuthError(401, f"device {device_id} is revoked", device_id=device_id)
        return Principal(
            device_id=device_id,
            camera_ids=frozenset(record.get("camera_ids") or ()),
            via="device-topic",
            rate_per_s=float(record.get("rate_per_s") or 50.0),
            burst=int(record.get("burst") or 100),
            sources=frozenset(record.get("allowed_formats") or ()),
        )

    def by_credential(self, credential: str) -> Principal | None:
        """The device a ``psd_...`` credential belongs to; None if it is not one of ours."""
        parts = split_credential(credential)
        if parts is None:
            return None
        with self._lock:
            device_id = self._by_credential.get(parts[0])
            record = self._devices.get(device_id) if device_id else None
        if device_id is None or record is None:
            return None
        if not credential_matches(credential, str(record.get("secret_hash", ""))):
            raise AuthError(401, "wrong device credential", device_id=device_id)
        return self._principal(device_id, record)

    def by_basic(self, user: str, password: str) -> Principal | None:
        """HTTP basic: the device id as user name, the credential as password."""
        with self._lock:
            record = self._devices.get(user)
        if record is None:
            return None
        if not credential_matches(password, str(record.get("secret_hash", ""))):
            raise AuthError(401, "wrong device credential", device_id=user)
        return self._principal(user, record)


@dataclass
class _Activity:
    accepted: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS_PER_DEVICE))
    rejected: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_EVENTS_PER_DEVICE))
    last_seen_ms: int | None = None
    remote_addr: str | None = None
    last_reject: str | None = None
    dirty: bool = True


class DeviceActivity:
    """Per-device counters of the last minute, bounded in devices and in events per device."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self._devices: dict[str, _Activity] = {}
        self._lock = threading.Lock()
        self.untracked = 0

    def record(
        self, device_id: str, *, ok: bool, remote: str | None, reject: str | None = None
    ) -> None:
        now = self._clock()
        with self._lock:
            act = self._devices.get(device_id)
            if act is None:
                if len(self._devices) >= MAX_TRACKED_DEVICES:
                    self.untracked += 1
                    return
                act = self._devices[device_id] = _Activity()
            (act.accepted if ok else act.rejected).append(now)
            if not ok:
                act.last_reject = reject
            act.last_seen_ms = now_ms()
            act.remote_addr = remote
            act.dirty = True

    def snapshot(self) -> list[dict[str, Any]]:
        """Counts of the last 60 s for devices active in the last two minutes or changed since the
        previous snapshot (so a device that went quiet reports zeros once)."""
        now = self._clock()
        out = []
        with self._lock:
            for device_id, act in list(self._devices.items()):
                for q in (act.accepted, act.rejected):
                    while q and q[0] < now - 60.0:
                        q.popleft()
                if not (act.dirty or act.accepted or act.rejected):
                    continue
                out.append(
                    {
                        "device_id": device_id,
                        "last_seen": act.last_seen_ms,
                        "pushes_per_min": len(act.accepted),
                        "rejects_per_min": len(act.rejected),
                        "remote_addr": act.remote_addr,
                        "last_reject": act.last_reject,
                    }
                )
                act.dirty = bool(act.accepted or act.rejected)
        return out


class DeviceStatusReporter:
    """Publishes the activity snapshot every ``interval_s`` to the device-status topic."""

    def __init__(
        self,
        *,
        activity: DeviceActivity,
        producer: Any,  # services.ingest.publisher.AckingProducer
        serde: AvroSerde,
        topic: str,
        interval_s: float,
        instance: str | None = None,
    ) -> None:
        self._activity = activity
        self._producer = producer
        self._serde = serde
        self._topic = topic
        self._interval = interval_s
        self.instance = instance or uuid.uuid4().hex[:8]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-device-status", daemon=True)

    @classmethod
    def topic_name(cls, settings: Any) -> str:
        return str(settings.topic(catalogue.DEVICE_STATUS.name))

    def start(self) -> DeviceStatusReporter:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)
        self.publish_once()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.publish_once()

    def publish_once(self) -> int:
        n = 0
        for item in self._activity.snapshot():
            record = {**item, "instance": self.instance, "ts": now_ms()}
            key = f"{item['device_id']}@{self.instance}"
            try:
                value = self._serde.encode("device_status", record, subject=f"{self._topic}-value")
                self._producer.produce(self._topic, key=key.encode(), value=value, on_done=_logged)
            except Exception as exc:  # status is best effort: never break the push path
                logger.warning("device status for %s not sent: %s", item["device_id"], exc)
                continue
            n += 1
        return n


def _logged(err: Any, _msg: Any) -> None:
    if err is not None:
        logger.warning("device status not delivered: %s", err)
