"""Plate-event search, export and detail (with presigned image URLs)."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from platestream.errors import BadInputError
from platestream.limits import check_object_key
from platestream.redact import ORIGINALS_PREFIX, original_key
from platestream.timeutil import to_ms
from services.api.deps import Export, Search, StateDep, audit
from services.api.hits import HitOut, describe_hits
from services.api.purpose import RequiredPurpose
from services.api.search import run_search
from services.api.search_rows import RESULT_FIELDS
from services.api.search_sql import FAST_FINAL, EventQuery, QueryError
from services.api.state import AppState

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/events", tags=["events"])


class EventOut(BaseModel):
    event_id: str
    version: int
    camera_id: str
    camera_name: str | None = None
    site: str | None = None
    zone: str | None = None
    plate: str
    confidence: float
    ts: int
    direction: str | None = None
    vehicle_type: str | None = None
    vehicle_color: str | None = None
    vehicle_make: str | None = None
    vehicle_model: str | None = None
    lane: int | None = None
    read_count: int
    watchlist_hits: list[str]
    hits: list[HitOut] = Field(
        default_factory=list, description="The hits as watchlist, reason and priority."
    )
    access_status: str
    correction_id: str | None = None
    source: str | None = None
    distance: float | None = None
    thumbnail_url: str | None = None


class EventPage(BaseModel):
    items: list[EventOut]
    next_cursor: str | None


class ImageOut(BaseModel):
    kind: str
    url: str
    expires_in: int


class ReadOut(BaseModel):
    read_id: str
    plate: str
    confidence: float
    ts: int
    candidates: list[str]
    plate_box: list[int]


class EventDetail(EventOut):
    variants: list[str]
    first_seen: int
    last_seen: int
    lat: float | None = None
    lon: float | None = None
    images: list[ImageOut]
    reads: list[ReadOut]
    corrections: list[dict[str, Any]]


def _ms(value: datetime | None) -> int | None:
    return None if value is None else to_ms(value)


async def event_query(
    plate: Annotated[
        str | None, Query(max_length=32, description="Plate text or pattern (AB?12*).")
    ] = None,
    mode: Annotated[Literal["auto", "exact", "prefix", "wildcard", "fuzzy"], Query()] = "auto",
    max_distance: Annotated[
        float, Query(ge=0, le=4, description="Fuzzy: maximum weighted edit distance.")
    ] = 1.0,
    camera: Annotated[list[str] | None, Query(max_length=200)] = None,
    site: Annotated[str | None, Query(max_length=128)] = None,
    zone: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[datetime | None, Query(description="From (inclusive), ISO 8601.")] = None,
    until: Annotated[datetime | None, Query(description="To (exclusive), ISO 8601.")] = None,
    direction: Annotated[str | None, Query(max_length=32)] = None,
    vehicle_type: Annotated[str | None, Query(max_length=64)] = None,
    vehicle_color: Annotated[str | None, Query(max_length=64)] = None,
    min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
    watchlist_only: bool = False,
    sort: Annotated[Literal["time", "score"], Query()] = "time",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> EventQuery:
    try:
        return EventQuery(
            plate=plate,
            mode=mode,
            max_distance=max_distance,
            cameras=list(camera or []),
            site=site,
            zone=zone,
            since_ms=_ms(since),
            until_ms=_ms(until),
            direction=direction,
            vehicle_type=vehicle_type,
            vehicle_color=vehicle_color,
            min_confidence=min_confidence,
            watchlist_only=watchlist_only,
            sort=sort,
            limit=limit,
            cursor=cursor,
        )
    except (OverflowError, ValueError, OSError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad time: {exc}") from exc


QueryDep = Annotated[EventQuery, Depends(event_query)]


# A cell a spreadsheet would run as a formula (OWASP "CSV injection"); device fields such as the
# vehicle make or the camera name reach the export unchanged.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """Text that starts like a formula, prefixed with ' so a spreadsheet shows it as text."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def presign(state: AppState, key: str | None, *, role: str | None = None) -> str | None:
    """A presigned GET URL, or None for no key or one no object can have (never a 500).
    An unredacted original (originals/) only for the roles PLATESTREAM_API_ORIGINAL_IMAGE_ROLES names."""
    if not key:
        return None
    if key.startswith(ORIGINALS_PREFIX) and role not in state.settings.api_original_image_roles:
        return None
    try:
        check_object_key(key)
        url: str = state.s3.presigned_get_object(
            state.settings.s3_bucket,
            key,
            expires=timedelta(seconds=state.settings.api_presign_ttl_s),
        )
    except (BadInputError, ValueError) as exc:
        logger.warning("no image URL for stored key %r: %s", key[:120], exc)
        return None
    return url


def search_page(
    state: AppState, q: EventQuery, limit: int | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    try:
        return run_search(state.clickhouse, q, limit=limit)
    except QueryError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc


@router.get("", response_model=EventPage)
def search_events(
    q: QueryDep, request: Request, state: StateDep, p: Search, _why: RequiredPurpose
) -> dict[str, Any]:
    """Search plate events: plate exact/prefix/wildcard/fuzzy and filters; keyset pagination."""
    items, cursor = search_page(state, q)
    describe_hits(state, items)
    fuzzy = q.resolved_mode() == "fuzzy"
    for item in items:
        item["thumbnail_url"] = presign(state, item.pop("best_crop_key", None))
        if not fuzzy:
            item.pop("distance", None)
    audit(state, request, p, "search", query=q.audit_view(), result_count=len(items))
    return {"items": items, "next_cursor": cursor}


EXPORT_FIELDS = [f for f in RESULT_FIELDS if f != "best_crop_key"]


def _export_rows(
    state: AppState, q: EventQuery, counter: dict[str, int]
) -> Iterator[dict[str, Any]]:
    page = 5000
    q.cursor = None
    while counter["rows"] < state.settings.api_export_max_rows:
        items, cursor = run_search(
            state.clickhouse,
            q,
            limit=min(page, state.settings.api_export_max_rows - counter["rows"]),
        )
        for item in items:
            counter["rows"] += 1
            yield item
        if cursor is None:
            return
        q.cursor = cursor


@router.get("/export", responses={200: {"content": {"text/csv": {}, "application/x-ndjson": {}}}})
def export_events(
    q: QueryDep,
    request: Request,
    state: StateDep,
    p: Export,
    _why: RequiredPurpose,
    format: Annotated[Literal["csv", "jsonl"], Query()] = "csv",
) -> StreamingResponse:
    """Export every matching event as CSV or JSON Lines, streamed (analyst and admin)."""
    search_page(state, EventQuery(**{**q.__dict__, "limit": 1}))  # validate before the 200 goes out
    counter = {"rows": 0}
    view = q.audit_view()
    # Audited before any row leaves: the record is acknowledged by the broker, or this is a 503.
    audit(state, request, p, "export", query={**view, "format": format}, delivered=True)

    def body() -> Iterator[bytes]:
        try:
            if format == "csv":
                buf = io.StringIO()
                writer = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS, extrasaction="ignore")
                writer.writeheader()
                for row in _export_rows(state, q, counter):
                    row["watchlist_hits"] = ";".join(row["watchlist_hits"])
                    writer.writerow({k: spreadsheet_safe(v) for k, v in row.items()})
                    if buf.tell() > 65536:
                        yield buf.getvalue().encode()
                        buf.seek(0)
                        buf.truncate()
                yield buf.getvalue().encode()
            else:
                for row in _export_rows(state, q, counter):
                    row.pop("best_crop_key", None)
                    row.pop("distance", None)
                    yield (json.dumps(row, ensure_ascii=False) + "\n").encode()
        finally:
            audit(
                state,
                request,
                p,
                "export_done",
                query={**view, "format": format},
                result_count=counter["rows"],
            )

    media = "text/csv" if format == "csv" else "application/x-ndjson"
    filename = f"plate-events.{format}"
    return StreamingResponse(
        body(),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


DETAIL_SQL = (
    "SELECT event_id, version, camera_id, camera_name, site, zone, plate, confidence, "
    "toUnixTimestamp64Milli(ts) AS ts_ms, direction, vehicle_type, vehicle_color, vehicle_make, vehicle_model, "
    "lane, read_count, watchlist_hits, access_status, best_crop_key, correction_id, source, variants, read_ids, "
    "image_keys, image_kinds, toUnixTimestamp64Milli(first_seen) AS first_ms, "
    "toUnixTimestamp64Milli(last_seen) AS last_ms, lat, lon "
    "FROM plate_events WHERE event_id = {event_id:String} ORDER BY version DESC LIMIT 1"
)
READS_SQL = (
    "SELECT read_id, plate, confidence, toUnixTimestamp64Milli(ts) AS ts_ms, candidate_plates, plate_box "
    "FROM plate_reads FINAL WHERE read_id IN {ids:Array(String)} ORDER BY ts LIMIT 100" + FAST_FINAL
)
CORRECTIONS_SQL = (
    "SELECT correction_id, action, plate, previous_plate, user, reason, toUnixTimestamp64Milli(ts) AS ts_ms "
    "FROM corrections FINAL WHERE event_id = {event_id:String} ORDER BY ts" + FAST_FINAL
)


def load_event(state: AppState, event_id: str) -> dict[str, Any] | None:
    rows = list(
        state.clickhouse.query(DETAIL_SQL, parameters={"event_id": event_id}).named_results()
    )
    return rows[0] if rows else None


def presign_original(state: AppState, key: str, role: str) -> str | None:
    """The unredacted original of a stored image, for a role allowed to see it, when one is kept."""
    from minio.error import S3Error

    if role not in state.settings.api_original_image_roles:
        return None
    try:
        state.s3.stat_object(state.settings.s3_bucket, original_key(key))
    except (S3Error, ValueError):
        return None
    return presign(state, original_key(key), role=role)


@router.get("/{event_id}", response_model=EventDetail)
def get_event(
    event_id: str, request: Request, state: StateDep, p: Search, _why: RequiredPurpose
) -> dict[str, Any]:
    """One event, latest version, with its reads, corrections and presigned image URLs."""
    row = load_event(state, event_id)
    if row is None:
        audit(
            state,
            request,
            p,
            "event_view",
            query={"event_id": event_id},
            result_count=0,
            status_code=404,
        )
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such event")
    out = {k: row.get(k) for k in RESULT_FIELDS if k not in ("ts", "best_crop_key")}
    out.update(
        ts=int(row["ts_ms"]),
        first_seen=int(row["first_ms"]),
        last_seen=int(row["last_ms"]),
        confidence=round(float(row["confidence"]), 4),
        variants=list(row["variants"]),
        watchlist_hits=list(row["watchlist_hits"]),
        lat=row["lat"],
        lon=row["lon"],
    )
    describe_hits(state, [out])
    ttl = state.settings.api_presign_ttl_s
    images = []
    if row["best_crop_key"]:
        images.append(
            {"kind": "plate", "url": presign(state, row["best_crop_key"]), "expires_in": ttl}
        )
    originals = p.role in state.settings.api_original_image_roles
    for key, kind in zip(row["image_keys"], row["image_kinds"], strict=False):
        if key != row["best_crop_key"]:
            images.append({"kind": kind, "url": presign(state, key), "expires_in": ttl})
            if (
                originals and kind != "plate"
            ):  # where the sink kept one (sink_s3_redact_keep_originals)
                url = presign_original(state, key, p.role)
                if url:
                    images.append({"kind": f"{kind}:original", "url": url, "expires_in": ttl})
    out["images"] = images
    reads = []
    if row["read_ids"]:
        for r in state.clickhouse.query(
            READS_SQL, parameters={"ids": list(row["read_ids"])}
        ).named_results():
            reads.append(
                {
                    "read_id": r["read_id"],
                    "plate": r["plate"],
                    "confidence": round(float(r["confidence"]), 4),
                    "ts": int(r["ts_ms"]),
                    "candidates": list(r["candidate_plates"]),
                    "plate_box": list(r["plate_box"]),
                }
            )
    out["reads"] = reads
    out["corrections"] = [
        {
            "correction_id": c["correction_id"],
            "action": c["action"],
            "plate": c["plate"],
            "previous_plate": c["previous_plate"],
            "user": c["user"],
            "reason": c["reason"],
            "ts": int(c["ts_ms"]),
        }
        for c in state.clickhouse.query(
            CORRECTIONS_SQL, parameters={"event_id": event_id}
        ).named_results()
    ]
    audit(state, request, p, "event_view", query={"event_id": event_id}, result_count=1)
    if images:
        audit(
            state,
            request,
            p,
            "image_view",
            query={"event_id": event_id, "kinds": [i["kind"] for i in images]},
            result_count=len(images),
        )
    return out
