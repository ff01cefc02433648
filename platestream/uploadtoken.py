"""Upload tokens: how a user signed in to the API uploads a video through ingest.

The API checks the user's permission, then forwards the upload to ingest with a short-lived JWT
(HS256, ``typ`` ``upload``) naming the user and the camera. Ingest accepts it in place of a device
credential for its upload endpoints only. The token lives minutes and names one camera, so a
leaked one can upload to that camera for that long at most.

The key is ``upload_token_secret``, set to the same value in the API and ingest, so ingest does
not hold the API's ``jwt_secret`` (with which anyone could mint API sessions). Unset, it falls
back to ``jwt_secret`` (development, and deployments that have not split them yet).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

TOKEN_TYPE = "upload"
TTL_S = 600


def key(settings: Any) -> str:
    """The upload-token key of these settings: ``upload_token_secret``, else ``jwt_secret``."""
    return str(settings.upload_token_secret or settings.jwt_secret)


def issue(secret: str, user: str, camera_id: str | None, *, now_s: int | None = None) -> str:
    """A token for ``user`` to upload to ``camera_id`` (None: read job status only)."""
    now = int(time.time()) if now_s is None else now_s
    claims = {
        "sub": user,
        "typ": TOKEN_TYPE,
        "cam": camera_id or "",
        "iat": now,
        "exp": now + TTL_S,
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, secret, algorithm="HS256")


def verify(secret: str, token: str) -> tuple[str, str] | None:
    """(user, camera id or "") of a valid upload token; None for anything else."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=["HS256"], options={"require": ["exp", "sub", "typ"]}
        )
    except jwt.PyJWTError:
        return None
    if claims.get("typ") != TOKEN_TYPE:
        return None
    return str(claims["sub"]), str(claims.get("cam") or "")
