"""Camera pictures for the console: the latest plate read of every camera with its thumbnail, and
the latest stored frame of one camera for the zone editor.

The API reads only what the stages stored: plate events in ClickHouse and images in the bucket.
A frame is in the bucket when it travelled by claim check (larger than the ingest inline limit) or
when the sink stores inline frames (``PLATESTREAM_SINK_S3_FRAMES``), under
``frames/<camera>/<yyyy>/<mm>/<dd>/<hh>/<ts>-<frame>-frame.jpg``; otherwise the editor gets the
scene, frame or vehicle image of the camera's latest plate event."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request, status
from pydantic import BaseModel

from platestream.images import image_key
from platestream.timeutil import now_ms
from services.api.deps import CameraWrite, Search, StateDep, audit
from services.api.purpose import RequiredPurpose
from services.api.routes.events import presign
from services.api.state import AppState

logger = logging.getLogger(__name__)

router = APIRouter(tags=["cameras"])

CameraId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]

LATEST_SQL = (
    "SELECT camera_id, argMax(event_id, (ts, version)) AS event_id, "
    "argMax(plate, (ts, version)) AS plate, toUnixTimestamp64Milli(max(ts)) AS ts_ms, "
    "argMax(best_crop_key, (ts, version)) AS crop_key FROM plate_events "
    "WHERE ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') "
    "GROUP BY camera_id ORDER BY camera_id LIMIT {limit:UInt32}"
)
EVENT_IMAGES_SQL = (
    "SELECT event_id, toUnixTimestamp64Milli(ts) AS ts_ms, image_keys, image_kinds "
    "FROM plate_events WHERE camera_id = {camera:String} "
    "AND ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC') AND notEmpty(image_keys) "
    "ORDER BY ts DESC LIMIT 20"
)
FRAME_KINDS = ("frame", "scene", "vehicle")  # the editor's preference, whole frame first
FRAME_LOOKBACK_MS = 10 * 60_000  # stored frames older than this are not "the latest frame"
MAX_LISTED = 5000  # keys listed per lookup: the last ten minutes of one camera at ~8 fps


class LatestReadOut(BaseModel):
    camera_id: str
    event_id: str
    plate: str
    ts: int
    thumbnail_url: str | None


class FrameOut(BaseModel):
    camera_id: str
    url: str
    kind: str
    origin: str  # stored-frame | event-image
    ts: int
    event_id: str | None = None


@router.get("/api/v1/camera-status/latest", response_model=list[LatestReadOut])
def latest_reads(
    request: Request,
    state: StateDep,
    p: Search,
    _why: RequiredPurpose,
    hours: Annotated[int, Query(ge=1, le=24 * 31)] = 24 * 7,
) -> list[dict[str, Any]]:
    """The latest plate event of every camera seen in the last ``hours``, with a presigned
    thumbnail of its plate crop (permission search and a stated purpose: it shows plates)."""
    since = now_ms() - hours * 3_600_000
    rows = state.clickhouse.query(
        LATEST_SQL, parameters={"since": since, "limit": 2000}
    ).named_results()
    out = [
        {
            "camera_id": r["camera_id"],
            "event_id": r["event_id"],
            "plate": r["plate"],
            "ts": int(r["ts_ms"]),
            "thumbnail_url": presign(state, r["crop_key"]),
        }
        for r in rows
    ]
    audit(state, request, p, "camera_latest", query={"hours": hours}, result_count=len(out))
    return out


def _hour_prefixes(camera_id: str, since: int, until: int) -> list[str]:
    """The object-key prefixes (one per hour) that can hold frames taken in [since, until]."""
    out = []
    hour = since - since % 3_600_000
    while hour <= until:
        key = image_key("frames", camera_id, hour, "x", "frame")
        out.append(key.rsplit("/", 1)[0] + "/")
        hour += 3_600_000
    return out


def latest_stored_frame(state: AppState, camera_id: str) -> tuple[str, int] | None:
    """(key, ts) of the newest frame in the bucket from the last ten minutes, or None.

    Keys in one hour sort by their millisecond time (13 digits), so listing from the lookback
    start is enough; at most MAX_LISTED keys are read."""
    until = now_ms()
    since = until - FRAME_LOOKBACK_MS
    best: tuple[str, int] | None = None
    listed = 0
    for prefix in _hour_prefixes(camera_id, since, until):
        try:
            objects = state.s3.list_objects(
                state.settings.s3_bucket, prefix=prefix, start_after=f"{prefix}{since}"
            )
            for obj in objects:
                listed += 1
                name = obj.object_name.rsplit("/", 1)[-1]
                ts = name.split("-", 1)[0]
                fits = name.endswith("-frame.jpg") and ts.isdigit() and since <= int(ts) <= until
                if fits and (best is None or int(ts) >= best[1]):
                    best = (obj.object_name, int(ts))
                if listed >= MAX_LISTED:
                    return best
        except Exception as exc:  # the bucket down: the editor falls back to event images
            logger.warning("frames of %s not listed: %s", camera_id, str(exc)[:200])
            return best
    return best


def latest_event_image(state: AppState, camera_id: str) -> dict[str, Any] | None:
    since = now_ms() - 31 * 24 * 3_600_000
    rows = state.clickhouse.query(
        EVENT_IMAGES_SQL, parameters={"camera": camera_id, "since": since}
    ).named_results()
    for row in rows:
        images = dict(zip(row["image_kinds"], row["image_keys"], strict=False))
        for kind in FRAME_KINDS:
            if images.get(kind):
                return {
                    "key": images[kind],
                    "kind": kind,
                    "ts": int(row["ts_ms"]),
                    "event_id": row["event_id"],
                }
    return None


@router.get("/api/v1/cameras/{camera_id}/frame", response_model=FrameOut)
def latest_frame(
    camera_id: CameraId, request: Request, state: StateDep, p: CameraWrite, _why: RequiredPurpose
) -> dict[str, Any]:
    """The camera's latest stored frame (last ten minutes), else the scene/frame/vehicle image of
    its latest plate event: the picture the zone editor draws polygons over. 404 if neither."""
    found: dict[str, Any] | None = None
    stored = latest_stored_frame(state, camera_id)
    if stored is not None:
        found = {"key": stored[0], "kind": "frame", "ts": stored[1], "origin": "stored-frame"}
    else:
        image = latest_event_image(state, camera_id)
        if image is not None:
            found = {**image, "origin": "event-image"}
    url = presign(state, found["key"]) if found else None
    audit(
        state,
        request,
        p,
        "image_view",
        query={"camera_id": camera_id, "kinds": [found["kind"]] if found else []},
        result_count=1 if url else 0,
        status_code=200 if url else 404,
    )
    if found is None or url is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no stored image of this camera")
    return {
        "camera_id": camera_id,
        "url": url,
        "kind": found["kind"],
        "origin": found["origin"],
        "ts": found["ts"],
        "event_id": found.get("event_id"),
    }
