"""Who is calling and what they may do: password hashes, JWTs, API keys and the role matrix."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from enum import StrEnum

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from platestream.timeutil import now_ms

ALGORITHM = "HS256"
API_KEY_PREFIX = "psk"
_hasher = PasswordHasher()


class Role(StrEnum):
    ADMIN = "admin"
    OPERATOR = "operator"
    ANALYST = "analyst"
    VIEWER = "viewer"
    DEVICE = "device"


class Perm(StrEnum):
    LIVE = "live"  # live feed of events and alerts
    SEARCH = "search"  # search, event detail, images, timeline, stats
    EXPORT = "export"  # CSV / JSON Lines export
    REPLAY = "replay"
    WATCHLIST_READ = "watchlist:read"
    WATCHLIST_WRITE = "watchlist:write"
    CORRECT = "correct"  # review queue, corrections, alert acknowledgement, training export
    CAMERA_READ = "camera:read"
    CAMERA_WRITE = "camera:write"
    USERS = "users"  # users and API keys
    INGEST = "ingest"
    UPLOAD = "upload"  # video uploads from the console, forwarded to ingest


# The issue's matrix: admin (users, cameras, settings), operator (watchlists, corrections),
# analyst (search, replay, export), viewer (live feed and lookups, no export), device (ingest only).
ROLE_PERMS: dict[Role, frozenset[Perm]] = {
    Role.ADMIN: frozenset(Perm),
    Role.OPERATOR: frozenset(
        {
            Perm.LIVE,
            Perm.SEARCH,
            Perm.WATCHLIST_READ,
            Perm.WATCHLIST_WRITE,
            Perm.CORRECT,
            Perm.CAMERA_READ,
            Perm.UPLOAD,
        }
    ),
    Role.ANALYST: frozenset(
        {Perm.LIVE, Perm.SEARCH, Perm.EXPORT, Perm.REPLAY, Perm.WATCHLIST_READ, Perm.CAMERA_READ}
    ),
    Role.VIEWER: frozenset({Perm.LIVE, Perm.SEARCH, Perm.CAMERA_READ}),
    Role.DEVICE: frozenset({Perm.INGEST}),
}


def allowed(role: str, perm: Perm) -> bool:
    try:
        return perm in ROLE_PERMS[Role(role)]
    except ValueError:
        return False


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user (JWT) or a machine (API key)."""

    name: str
    role: str
    kind: str  # "user" | "api_key"
    camera_ids: tuple[str, ...] = ()
    owner: str = ""  # the user an API key belongs to (keys made by a key inherit its owner)
    key_id: str = ""  # the API key's id, so a long-lived connection can re-check it

    @property
    def subject(self) -> str:
        """Rate-limit and audit identity."""
        return f"{self.kind}:{self.name}"

    def can(self, perm: Perm) -> bool:
        return allowed(self.role, perm)


class AuthError(Exception):
    """Credentials are missing, wrong or expired (answered 401)."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_version(password_hash: str) -> str:
    """Short fingerprint of the hash: a password reset invalidates refresh tokens issued before it."""
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


class TokenIssuer:
    """Issues and checks access and refresh JWTs (HS256)."""

    def __init__(self, secret: str, *, access_ttl_s: int, refresh_ttl_s: int) -> None:
        self._secret = secret
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    def issue(
        self, username: str, role: str, pwv: str, *, kind: str = "access", now_s: int | None = None
    ) -> str:
        now = now_s if now_s is not None else now_ms() // 1000
        ttl = self.access_ttl_s if kind == "access" else self.refresh_ttl_s
        claims = {
            "sub": username,
            "role": role,
            "typ": kind,
            "pwv": pwv,
            "iat": now,
            "exp": now + ttl,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, *, kind: str = "access") -> dict[str, object]:
        try:
            claims: dict[str, object] = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["exp", "sub", "typ"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise AuthError("invalid token") from exc
        if claims.get("typ") != kind:
            raise AuthError(f"not an {kind} token")
        return claims


def new_api_key() -> tuple[str, str, str]:
    """(key_id, secret key shown once, stored hash). The key reads ``psk_<key_id>_<random>``.

    Keys carry 256 random bits, so a plain SHA-256 is enough to store them (argon2 would cost
    tens of ms on every machine request without adding protection to a random secret).
    """
    key_id = secrets.token_hex(6)
    key = f"{API_KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(32)}"
    return key_id, key, hash_api_key(key)


def hash_api_key(key: str) -> str:
    """SHA-256 (hex) of the secret part of a key (the schema's ``key_hash``)."""
    secret = key.split("_", 2)[-1]
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_id(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX or not parts[1]:
        return None
    return parts[1]


def api_key_matches(key: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(key), stored_hash)
