"""Device credentials: made by the API, checked by ingest; only their SHA-256 is ever stored.

A credential reads ``psd_<credential_id>_<secret>``. The credential id is public (it finds the
device record in one dictionary lookup); the secret carries 256 random bits, so a plain SHA-256 is
enough to store it (a slow password hash would cost every push tens of ms without adding
protection to a random secret), as for the API's machine keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

DEVICE_PREFIX = "psd"


def new_device_credential() -> tuple[str, str, str]:
    """(credential_id, credential shown once, stored hash)."""
    credential_id = secrets.token_hex(6)
    credential = f"{DEVICE_PREFIX}_{credential_id}_{secrets.token_urlsafe(32)}"
    return credential_id, credential, secret_hash(credential)


def split_credential(credential: str) -> tuple[str, str] | None:
    """(credential_id, secret) of a device credential, or None if it is not one."""
    prefix, _, rest = credential.partition("_")
    credential_id, _, secret = rest.partition("_")
    if prefix != DEVICE_PREFIX or not credential_id or not secret or len(credential) > 256:
        return None
    return credential_id, secret


def secret_hash(credential: str) -> str:
    """SHA-256 (hex) of the secret part of a credential."""
    parts = split_credential(credential)
    secret = parts[1] if parts else credential
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def credential_matches(credential: str, stored_hash: str) -> bool:
    return hmac.compare_digest(secret_hash(credential), stored_hash)
