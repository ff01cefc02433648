"""Who may push: device credentials (API key or HTTP basic), their cameras and their rate limits.

Devices come from the settings' registry and, optionally, from API keys with role ``device`` on
the compacted ``anpr.api-keys.v1`` topic (``ApiKeyFollower``). Secrets are compared with
``hmac.compare_digest`` on SHA-256 digests, so neither length nor content leaks through timing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from platestream.errors import PlatestreamError
from platestream.limits import valid_camera_id
from services.ingest.digest_nonces import NonceLedger
from services.ingest.settings import DeviceConfig

logger = logging.getLogger(__name__)


class AuthError(PlatestreamError):
    """401 (no or wrong credential) or 403 (credential not valid for this camera/format)."""

    def __init__(
        self, status: int, reason: str, *, device_id: str | None = None, stale: bool = False
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.device_id = device_id  # the device the credential named, when known (for its counts)
        self.stale = stale  # a digest nonce that expired: the next challenge says stale=true


@dataclass(frozen=True)
class Principal:
    device_id: str
    camera_ids: frozenset[str]  # empty: any camera (an API key with no camera list)
    via: str  # registry | api-key
    rate_per_s: float = 50.0
    burst: int = 100
    sources: frozenset[str] = field(default_factory=frozenset)

    def camera_for(self, requested: str | None, source: str) -> str:
        if self.sources and source not in self.sources:
            raise AuthError(403, f"device {self.device_id} may not push {source} events")
        if requested:
            if not valid_camera_id(requested):  # it becomes a record key and an object key
                raise AuthError(400, f"camera id {requested[:64]!r} is not a valid camera id")
            if self.camera_ids and requested not in self.camera_ids:
                raise AuthError(
                    403, f"unknown camera {requested[:64]!r} for device {self.device_id}"
                )
            return requested
        if len(self.camera_ids) == 1:
            camera = next(iter(self.camera_ids))
            if not valid_camera_id(camera):  # a registry record is input too
                raise AuthError(
                    403, f"device {self.device_id} is registered for an invalid camera id"
                )
            return camera
        raise AuthError(403, "camera not given: add ?camera_id=... or an X-Camera-Id header")


DIGEST_REALM = "platestream-ingest"
NONCE_TTL_S = 300
_DIGEST_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class ApiKeyStore:
    """Device API keys as read from the api-keys topic: key_id -> record."""

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self.ready = threading.Event()

    def apply(self, key_id: str, record: dict[str, Any] | None) -> None:
        with self._lock:
            if record is None:
                self._keys.pop(key_id, None)
            else:
                self._keys[key_id] = record

    def lookup(self, presented: str) -> Principal | None:
        """A device principal for a presented key ``<key_id><sep><secret>``, or None.

        The stored ``key_hash`` is the SHA-256 of the secret part; a hash of the whole presented key
        is accepted as well so the key format can evolve without touching ingest.
        """
        with self._lock:
            candidates = [
                (kid, rec) for kid, rec in self._keys.items() if presented.startswith(kid)
            ]
        for kid, rec in candidates:
            secret = presented[len(kid) :].lstrip("._-:")
            stored = str(rec.get("key_hash", ""))
            try:
                stored_digest = bytes.fromhex(stored)
            except ValueError:
                continue
            ok_secret = hmac.compare_digest(_sha(secret), stored_digest)
            ok_full = hmac.compare_digest(_sha(presented), stored_digest)
            if not (ok_secret or ok_full):
                continue
            if rec.get("revoked") or rec.get("role") != "device":
                return None
            return Principal(
                device_id=f"key:{kid}",
                camera_ids=frozenset(rec.get("camera_ids") or ()),
                via="api-key",
            )
        return None


class DeviceAuth:
    """Authenticates a request's headers against the registry and the API-key store."""

    def __init__(
        self,
        devices: Mapping[str, DeviceConfig],
        *,
        api_keys: ApiKeyStore | None = None,
        device_store: Any = None,  # services.ingest.device_registry.DeviceStore
        nonce_key: bytes | None = None,
        clock: Any = time.time,
    ) -> None:
        self._nonce_key = nonce_key or os.urandom(32)
        self._clock = clock
        self.nonces = NonceLedger(ttl_s=NONCE_TTL_S)
        self._devices = dict(devices)
        self._by_user = {(cfg.username or dev_id): dev_id for dev_id, cfg in self._devices.items()}
        self._by_secret_hash = {_sha(cfg.secret): dev_id for dev_id, cfg in self._devices.items()}
        self._api_keys = api_keys
        self._device_store = device_store

    def _principal(self, dev_id: str) -> Principal:
        cfg = self._devices[dev_id]
        return Principal(
            device_id=dev_id,
            camera_ids=frozenset({cfg.camera_id}),
            via="registry",
            rate_per_s=cfg.rate_per_s,
            burst=cfg.burst,
            sources=frozenset(cfg.sources),
        )

    def authenticate(
        self,
        headers: Mapping[str, str],
        query: Mapping[str, str] | None = None,
        *,
        method: str = "POST",
        uri: str | None = None,
    ) -> Principal:
        auth = headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            return self._basic(value.strip())
        if scheme == "digest":
            return self._digest(value, method, uri)
        key = headers.get("x-api-key")
        if not key and scheme in ("bearer", "token", "apikey"):
            key = value.strip()
        if not key and query is not None:
            key = query.get("api_key")
        if not key:
            raise AuthError(
                401,
                "credential required: X-API-Key header, Authorization: Bearer/Token, or HTTP basic",
            )
        return self._api_key(key, headers.get("x-device-id"))

    def _basic(self, value: str) -> Principal:
        try:
            user, _, password = (
                base64.b64decode(value, validate=True).decode("utf-8").partition(":")
            )
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise AuthError(401, "malformed HTTP basic credential") from exc
        dev_id = self._by_user.get(user)
        if dev_id is None and self._device_store is not None:
            found = self._device_store.by_basic(user, password)
            if found is not None:
                return found  # type: ignore[no-any-return]
        expected = self._devices[dev_id].secret if dev_id else "\x00" * 32
        ok = hmac.compare_digest(_sha(password), _sha(expected))
        if dev_id is None or not ok:
            raise AuthError(401, "wrong device credential")
        return self._principal(dev_id)

    def digest_challenge(self, *, stale: bool = False) -> str:
        """A WWW-Authenticate value. The nonce is the time and 8 random bytes, signed with a
        per-process key (no state until it is used; each use is then recorded in ``nonces``)."""
        ts = f"{int(self._clock())}.{os.urandom(8).hex()}"
        sig = hmac.new(self._nonce_key, ts.encode(), hashlib.sha256).hexdigest()[:32]
        nonce = base64.b64encode(f"{ts}:{sig}".encode()).decode()
        extra = ", stale=true" if stale else ""
        return f'Digest realm="{DIGEST_REALM}", qop="auth", algorithm=MD5, nonce="{nonce}"{extra}'

    def _nonce_time(self, nonce: str) -> float | None:
        """Issue time of a nonce this process signed, or None when it is forged or foreign."""
        try:
            ts, _, sig = base64.b64decode(nonce, validate=True).decode().partition(":")
            issued = float(int(ts.split(".", 1)[0]))
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        expected = hmac.new(self._nonce_key, ts.encode(), hashlib.sha256).hexdigest()[:32]
        return issued if hmac.compare_digest(sig, expected) else None

    def _digest(self, value: str, method: str, uri: str | None) -> Principal:
        """RFC 7616 digest (MD5, qop=auth or none): the password is the device secret; each
        (nonce, nc) is accepted once, so a captured header cannot be sent again."""
        p = {
            m.group(1).lower(): (m.group(2) if m.group(2) is not None else m.group(3))
            for m in _DIGEST_PARAM.finditer(value)
        }
        user, nonce, response = p.get("username", ""), p.get("nonce", ""), p.get("response", "")
        issued = self._nonce_time(nonce) if p.get("realm") == DIGEST_REALM else None
        if issued is None:
            raise AuthError(401, "foreign digest nonce")
        now = self._clock()
        if not 0 <= now - issued <= NONCE_TTL_S or self.nonces.below_floor(issued):
            raise AuthError(401, "stale digest nonce", stale=True)
        if uri is not None and p.get("uri") != uri:
            raise AuthError(401, "digest uri does not match the request")
        try:
            nc = int(p.get("nc") or "0", 16) if p.get("qop") else 0
        except ValueError as exc:
            raise AuthError(401, "malformed digest nonce count") from exc
        dev_id = self._by_user.get(user)
        secret = self._devices[dev_id].secret if dev_id else "\x00" * 32
        ha1 = _md5(f"{user}:{DIGEST_REALM}:{secret}")
        ha2 = _md5(f"{method}:{p.get('uri', '')}")
        if p.get("qop"):
            expected = _md5(
                f"{ha1}:{nonce}:{p.get('nc', '')}:{p.get('cnonce', '')}:{p.get('qop')}:{ha2}"
            )
        else:
            expected = _md5(f"{ha1}:{nonce}:{ha2}")
        if dev_id is None or not hmac.compare_digest(expected, response):
            raise AuthError(401, "wrong device credential")
        # recorded only once the response is proven, so nobody can burn a device's nonce
        if not self.nonces.use(user, nonce, nc, issued_at=issued, now=now):
            raise AuthError(401, "digest nonce already used (replay)", device_id=dev_id)
        return self._principal(dev_id)

    def _api_key(self, key: str, device_id: str | None) -> Principal:
        digest = _sha(key)
        if device_id is not None:
            cfg = self._devices.get(device_id)
            expected = _sha(cfg.secret) if cfg else _sha("\x00" * 32)
            if cfg is not None and hmac.compare_digest(digest, expected):
                return self._principal(device_id)
        else:
            dev_id = self._by_secret_hash.get(digest)
            if dev_id is not None and hmac.compare_digest(
                digest, _sha(self._devices[dev_id].secret)
            ):
                return self._principal(dev_id)
        if self._device_store is not None:
            found = self._device_store.by_credential(key)
            if found is not None:
                return found  # type: ignore[no-any-return]
        if self._api_keys is not None:
            principal = self._api_keys.lookup(key)
            if principal is not None:
                return principal
        raise AuthError(401, "wrong device credential")


class TokenBucket:
    """Per-key token buckets: ``allow(key, rate, burst)`` is False when the key is over its rate."""

    def __init__(self, clock: Any = time.monotonic) -> None:
        self._state: dict[str, tuple[float, float]] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def allow(self, key: str, rate: float, burst: int) -> bool:
        now = self._clock()
        with self._lock:
            tokens, last = self._state.get(key, (float(burst), now))
            tokens = min(float(burst), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._state[key] = (tokens, now)
                return False
            self._state[key] = (tokens - 1.0, now)
            return True


class ApiKeyFollower:
    """Follows a compacted topic (api keys, devices) into a store with ``apply`` and ``ready``
    (an ``ApiKeyStore`` or a ``DeviceStore``), from the beginning, with no group."""

    def __init__(self, *, consumer: Any, serde: Any, topic: str, store: Any) -> None:
        self._consumer = consumer
        self._serde = serde
        self._topic = topic
        self._store = store
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ingest-api-keys", daemon=True)

    def start(self) -> ApiKeyFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)

    def _run(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, TopicPartition

        try:
            meta = self._consumer.list_topics(self._topic, timeout=10.0)
            parts = meta.topics[self._topic].partitions if self._topic in meta.topics else {}
            self._consumer.assign([TopicPartition(self._topic, p, OFFSET_BEGINNING) for p in parts])
            idle = 0
            while not self._stop.is_set():
                msg = self._consumer.poll(0.5)
                if msg is None:
                    idle += 1
                    if idle >= 2:
                        self._store.ready.set()  # caught up (tansu's high watermark is unreliable)
                    continue
                idle = 0
                if msg.error():
                    continue
                key = (msg.key() or b"").decode("utf-8", "replace")
                if msg.value() is None:
                    self._store.apply(key, None)
                    continue
                try:
                    self._store.apply(key, self._serde.decode(msg.value()))
                except PlatestreamError as exc:
                    logger.warning(
                        "skipping api key %s[%s]@%s: %s",
                        msg.topic(),
                        msg.partition(),
                        msg.offset(),
                        exc,
                    )
        finally:
            self._consumer.close()
