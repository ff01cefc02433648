"""Which images a record carries and the bucket key of each: one rule shared by both sinks.

The ClickHouse projection stores the keys while the S3 projection writes the objects; both call
``image_slots`` on the same record, so they agree without talking to each other. An image that
arrived by claim check (``s3_key`` set) keeps its key and is never copied again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from platestream.images import EXTENSIONS, image_key, sniff_content_type

PREFIX_BY_KIND = {"plate": "crops", "frame": "frames"}  # anything else (vehicle, scene): images


@dataclass(frozen=True)
class ImageSlot:
    """One image of one record: where it lives in the bucket and whether the sink must write it."""

    key: str
    kind: str
    content_type: str
    data: bytes | None  # inline bytes to write; None when the image is already in the bucket
    sha256: str | None


def _content_type(ref: dict[str, Any]) -> str:
    declared = ref.get("content_type") or ""
    if declared in EXTENSIONS:
        return str(declared)
    data = ref.get("data")
    return (sniff_content_type(data) if data else None) or declared or "application/octet-stream"


def _slots(
    refs: list[dict[str, Any] | None], camera_id: str, ts_ms: int, owner_id: str
) -> list[ImageSlot]:
    out: list[ImageSlot] = []
    seen: dict[str, int] = {}
    for ref in refs:
        if not ref:
            continue
        kind = str(ref.get("kind") or "image")
        seen[kind] = seen.get(kind, 0) + 1
        label = kind if seen[kind] == 1 else f"{kind}-{seen[kind]}"
        ctype = _content_type(ref)
        if ref.get("s3_key"):
            out.append(ImageSlot(str(ref["s3_key"]), kind, ctype, None, ref.get("sha256")))
        elif ref.get("data"):
            prefix = PREFIX_BY_KIND.get(kind, "images")
            key = image_key(prefix, camera_id, ts_ms, owner_id, label, ctype)
            out.append(ImageSlot(key, kind, ctype, ref["data"], ref.get("sha256")))
    return out


def image_slots(schema: str, rec: dict[str, Any]) -> list[ImageSlot]:
    """The images of a plate_read, plate_event, camera_event or frame record, in record order.

    For a plate event the best crop comes first, then ``images``.
    """
    if schema == "plate_read":
        return _slots([rec.get("crop")], rec["camera_id"], rec["ts"], rec["read_id"])
    if schema == "plate_event":
        return _slots(
            [rec.get("best_crop"), *(rec.get("images") or [])],
            rec["camera_id"],
            rec["ts"],
            rec["event_id"],
        )
    if schema == "camera_event":
        return _slots(list(rec.get("images") or []), rec["camera_id"], rec["ts"], rec["event_id"])
    if schema == "frame":
        return _slots([rec.get("image")], rec["camera_id"], rec["ts"], rec["frame_id"])
    return []
