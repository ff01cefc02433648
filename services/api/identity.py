"""Users and API keys as events, and the projection that authenticates callers.

Accounts live on the compacted topics ``anpr.users.v1`` (key username) and ``anpr.api-keys.v1``
(key key_id); a null value deletes. The API and `platestream users` publish changes there; every
API process rebuilds the accounts from the topics at start and follows them.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from typing import Any

from platestream import topics as catalogue
from platestream.timeutil import now_ms
from services.api.auth import (
    AuthError,
    Principal,
    Role,
    TokenIssuer,
    api_key_id,
    api_key_matches,
    hash_password,
    new_api_key,
    password_version,
    verify_password,
)
from services.api.projection import TopicProjection
from services.api.publish import Publisher

USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
MIN_PASSWORD = 8
# Verifying against a dummy hash for unknown users keeps login time independent of whether the user exists.
_DUMMY_HASH = hash_password("platestream-no-such-user")
# Refresh tokens already exchanged, remembered until they expire; bounded, oldest forgotten first.
MAX_SPENT_REFRESH = 200_000


class AccountError(ValueError):
    """A request to change an account is invalid (answered 4xx)."""


def check_username(username: str) -> str:
    if not USERNAME_RE.match(username or ""):
        raise AccountError("username must be 1-64 characters: letters, digits, . _ @ -")
    return username


def check_role(role: str) -> str:
    try:
        return Role(role).value
    except ValueError:
        raise AccountError(f"role must be one of {', '.join(r.value for r in Role)}") from None


def check_password(password: str) -> str:
    if len(password or "") < MIN_PASSWORD:
        raise AccountError(f"password must have at least {MIN_PASSWORD} characters")
    return password


def user_record(
    username: str, role: str, password_hash: str, *, action: str, actor: str, disabled: bool = False
) -> dict[str, Any]:
    return {
        "username": username,
        "role": role,
        "password_hash": password_hash,
        "disabled": disabled,
        "action": action,
        "actor": actor,
        "ts": now_ms(),
    }


class Accounts:
    """Authenticates callers against the user and API-key projections and publishes account changes."""

    def __init__(
        self,
        *,
        users: TopicProjection,
        keys: TopicProjection,
        publisher: Publisher,
        issuer: TokenIssuer,
    ) -> None:
        self.users = users
        self.keys = keys
        self.publisher = publisher
        self.issuer = issuer
        self._spent: OrderedDict[str, float] = OrderedDict()  # refresh jti -> its exp (epoch s)
        self._spent_lock = threading.Lock()

    # -- authentication ------------------------------------------------------------------
    def login(self, username: str, password: str) -> dict[str, Any]:
        user = self.users.get(username)
        ok = verify_password(user["password_hash"] if user else _DUMMY_HASH, password)
        if user is None or not ok or user.get("disabled"):
            raise AuthError("wrong username or password")
        return user

    def tokens_for(self, user: dict[str, Any]) -> dict[str, Any]:
        pwv = password_version(user["password_hash"])
        return {
            "access_token": self.issuer.issue(user["username"], user["role"], pwv),
            "refresh_token": self.issuer.issue(user["username"], user["role"], pwv, kind="refresh"),
            "token_type": "bearer",
            "expires_in": self.issuer.access_ttl_s,
            "role": user["role"],
        }

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        """A new pair of tokens; the refresh token given is spent and refused from then on."""
        claims = self.issuer.decode(refresh_token, kind="refresh")
        user = self._current_user(claims)
        self._spend(str(claims.get("jti") or ""), float(str(claims["exp"])))
        return self.tokens_for(user)

    def _spend(self, jti: str, exp: float) -> None:
        if not jti:
            raise AuthError("refresh token without an id")
        now = time.time()
        with self._spent_lock:
            while self._spent and next(iter(self._spent.values())) < now:
                self._spent.popitem(last=False)  # expired anyway: decode refuses them
            if jti in self._spent:
                raise AuthError("refresh token already used")
            self._spent[jti] = exp
            while len(self._spent) > MAX_SPENT_REFRESH:
                self._spent.popitem(last=False)

    def principal_from_token(self, token: str) -> Principal:
        claims = self.issuer.decode(token, kind="access")
        user = self._current_user(claims)
        return Principal(name=user["username"], role=user["role"], kind="user")

    def _current_user(self, claims: dict[str, object]) -> dict[str, Any]:
        user = self.users.get(str(claims["sub"]))
        if user is None or user.get("disabled"):
            raise AuthError("user no longer exists or is disabled")
        if claims.get("pwv") != password_version(user["password_hash"]):
            raise AuthError("token issued before a password change")
        return user

    def principal_from_key(self, key: str) -> Principal:
        key_id = api_key_id(key)
        stored = self.keys.get(key_id) if key_id else None
        if stored is None or stored.get("revoked") or not api_key_matches(key, stored["key_hash"]):
            raise AuthError("invalid API key")
        # A key acts for its owner: it stops when the owner is disabled or deleted (the users
        # projection follows the topic, so this holds on every replica without a restart).
        owner = self.users.get(str(stored.get("owner") or ""))
        if owner is None or owner.get("disabled"):
            raise AuthError("the API key's owner no longer exists or is disabled")
        return Principal(
            name=stored["name"],
            role=stored["role"],
            kind="api_key",
            camera_ids=tuple(stored.get("camera_ids") or ()),
            owner=owner["username"],
            key_id=str(key_id),
        )

    def still_valid(self, principal: Principal) -> bool:
        """Whether a caller authenticated earlier would still be let in now, with the same role
        (long-lived connections, e.g. the live feed, re-check with this)."""
        if principal.kind == "api_key":
            stored = self.keys.get(principal.key_id)
            if stored is None or stored.get("revoked") or stored.get("role") != principal.role:
                return False
            username = principal.owner
        else:
            username = principal.name
        user = self.users.get(username)
        if user is None or user.get("disabled"):
            return False
        return principal.kind == "api_key" or user.get("role") == principal.role

    # -- changes (events) ----------------------------------------------------------------
    def _publish_user(self, username: str, record: dict[str, Any] | None) -> None:
        part, off = self.publisher.publish(
            catalogue.USERS.name, catalogue.USERS.schema, username, record
        )
        if not self.users.wait_for(part, off):
            self.users.apply(username, record)

    def create_user(self, username: str, role: str, password: str, *, actor: str) -> dict[str, Any]:
        check_username(username)
        check_role(role)
        check_password(password)
        if self.users.get(username) is not None:
            raise AccountError(f"user {username!r} exists")
        record = user_record(username, role, hash_password(password), action="created", actor=actor)
        self._publish_user(username, record)
        return record

    def update_user(
        self,
        username: str,
        *,
        actor: str,
        role: str | None = None,
        password: str | None = None,
        disabled: bool | None = None,
    ) -> dict[str, Any]:
        user = self.users.get(username)
        if user is None:
            raise KeyError(username)
        record = dict(user)
        action = "updated"
        if role is not None:
            record["role"] = check_role(role)
        if password is not None:
            record["password_hash"] = hash_password(check_password(password))
            action = "password_reset"
        if disabled is not None:
            record["disabled"] = disabled
        record.update(action=action, actor=actor, ts=now_ms())
        self._publish_user(username, record)
        return record

    def delete_user(self, username: str) -> None:
        if self.users.get(username) is None:
            raise KeyError(username)
        self._publish_user(username, None)

    def create_key(
        self, name: str, role: str, *, owner: str, camera_ids: list[str] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Returns the key (shown once) and the stored record (hash only)."""
        check_role(role)
        if not name or len(name) > 128:
            raise AccountError("name must have 1-128 characters")
        key_id, key, key_hash = new_api_key()
        record = {
            "key_id": key_id,
            "name": name,
            "owner": owner,
            "role": role,
            "key_hash": key_hash,
            "camera_ids": list(camera_ids or []),
            "revoked": False,
            "created_at": now_ms(),
        }
        part, off = self.publisher.publish(
            catalogue.API_KEYS.name, catalogue.API_KEYS.schema, key_id, record
        )
        if not self.keys.wait_for(part, off):
            self.keys.apply(key_id, record)
        return key, record

    def revoke_key(self, key_id: str) -> None:
        if self.keys.get(key_id) is None:
            raise KeyError(key_id)
        part, off = self.publisher.publish(
            catalogue.API_KEYS.name, catalogue.API_KEYS.schema, key_id, None
        )
        if not self.keys.wait_for(part, off):
            self.keys.apply(key_id, None)
