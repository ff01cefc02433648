"""Where images live in the bucket: keys that sort by camera and time, computed the same way everywhere.

Any stage can compute the key of an image from the record that carries it, so the ClickHouse
projection can store the key while the S3 projection writes the object, without coordination.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from platestream.errors import BadInputError
from platestream.limits import check_object_key

EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png"}


def image_key(
    prefix: str,
    camera_id: str,
    ts_ms: int,
    owner_id: str,
    kind: str,
    content_type: str = "image/jpeg",
) -> str:
    """``<prefix>/<camera>/<yyyy>/<mm>/<dd>/<hh>/<ts>-<owner>-<kind>.<ext>``.

    prefix: ``frames`` | ``crops`` | ``images``; owner_id: the frame, read or event id.
    BadInputError when the record's values cannot make a key an object store takes (a time
    outside the calendar, a camera id of ``..``): the caller dead-letters the record.
    """
    try:
        dt = datetime.fromtimestamp(ts_ms / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise BadInputError(f"time {ts_ms} cannot be part of an object key: {exc}") from exc
    ext = EXTENSIONS.get(content_type, "bin")
    safe_camera = "".join(c if c.isalnum() or c in "-_." else "_" for c in camera_id)
    return check_object_key(
        f"{prefix}/{safe_camera}/{dt:%Y/%m/%d/%H}/{ts_ms}-{owner_id}-{kind}.{ext}"
    )


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sniff_content_type(data: bytes) -> str | None:
    """image/jpeg or image/png from the magic bytes, else None."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    return None
