"""Auth primitives without servers: hashes, JWTs, API keys, the role matrix."""

from __future__ import annotations

import time

import pytest

from services.api.auth import (
    ROLE_PERMS,
    AuthError,
    Perm,
    Role,
    TokenIssuer,
    allowed,
    api_key_id,
    api_key_matches,
    hash_password,
    new_api_key,
    password_version,
    verify_password,
)


def test_password_hash_is_argon2_and_verifies() -> None:
    h = hash_password("s3cret-pass")
    assert h.startswith("$argon2id$") and "s3cret-pass" not in h
    assert verify_password(h, "s3cret-pass")
    assert not verify_password(h, "s3cret-pasS")
    assert not verify_password("not-a-hash", "s3cret-pass")
    assert password_version(h) != password_version(hash_password("s3cret-pass"))  # salted


def test_tokens_round_trip_and_expire() -> None:
    issuer = TokenIssuer("k" * 40, access_ttl_s=60, refresh_ttl_s=600)
    tok = issuer.issue("ana", "analyst", "v1")
    claims = issuer.decode(tok)
    assert (claims["sub"], claims["role"], claims["typ"], claims["pwv"]) == (
        "ana",
        "analyst",
        "access",
        "v1",
    )
    expired = issuer.issue("ana", "analyst", "v1", now_s=int(time.time()) - 61)
    with pytest.raises(AuthError, match="expired"):
        issuer.decode(expired)
    refresh = issuer.issue("ana", "analyst", "v1", kind="refresh")
    with pytest.raises(AuthError, match="access"):
        issuer.decode(refresh)
    assert (
        issuer.decode(refresh, kind="refresh")["exp"]
        - issuer.decode(refresh, kind="refresh")["iat"]
        == 600
    )
    other = TokenIssuer("x" * 40, access_ttl_s=60, refresh_ttl_s=600)
    with pytest.raises(AuthError, match="invalid"):
        other.decode(tok)
    with pytest.raises(AuthError):
        issuer.decode(tok[:-3] + "abc")


def test_api_keys_store_only_a_hash() -> None:
    key_id, key, stored = new_api_key()
    assert key.startswith(f"psk_{key_id}_") and api_key_id(key) == key_id
    assert key not in stored and len(stored) == 64
    assert api_key_matches(key, stored)
    assert not api_key_matches(key + "x", stored)
    assert api_key_id("garbage") is None and api_key_id("psk__x") is None


@pytest.mark.parametrize(
    ("role", "perm", "ok"),
    [
        ("viewer", Perm.LIVE, True),
        ("viewer", Perm.SEARCH, True),
        ("viewer", Perm.EXPORT, False),
        ("device", Perm.SEARCH, False),
        ("device", Perm.INGEST, True),
        ("device", Perm.LIVE, False),
        ("analyst", Perm.EXPORT, True),
        ("analyst", Perm.REPLAY, True),
        ("analyst", Perm.CORRECT, False),
        ("operator", Perm.WATCHLIST_WRITE, True),
        ("operator", Perm.CORRECT, True),
        ("operator", Perm.EXPORT, False),
        ("operator", Perm.CAMERA_WRITE, False),
        ("admin", Perm.USERS, True),
        ("admin", Perm.CAMERA_WRITE, True),
        ("nobody", Perm.LIVE, False),
    ],
)
def test_role_matrix(role: str, perm: Perm, ok: bool) -> None:
    assert allowed(role, perm) is ok


def test_only_admin_manages_users() -> None:
    assert [r for r in Role if Perm.USERS in ROLE_PERMS[r]] == [Role.ADMIN]


def test_account_validation() -> None:
    from services.api.identity import AccountError, check_password, check_role, check_username

    assert check_username("ana.lyst@site-1") == "ana.lyst@site-1"
    for bad in ("", "bad user", "x" * 65, "-dash"):
        with pytest.raises(AccountError):
            check_username(bad)
    with pytest.raises(AccountError, match="at least 8"):
        check_password("short")
    assert check_role("viewer") == "viewer"
    with pytest.raises(AccountError, match="role must be one of"):
        check_role("root")
