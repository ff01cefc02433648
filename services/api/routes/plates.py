"""A plate's journey across cameras and sites."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel

from platestream.plates import normalise
from platestream.timeutil import to_ms
from services.api.deps import Search, StateDep, audit
from services.api.purpose import RequiredPurpose
from services.api.search import run_search
from services.api.search_sql import EventQuery, QueryError

router = APIRouter(prefix="/api/v1/plates", tags=["plates"])


class Stop(BaseModel):
    event_id: str
    camera_id: str
    camera_name: str | None
    site: str | None
    zone: str | None
    ts: int
    direction: str | None
    confidence: float
    lat: float | None
    lon: float | None
    watchlist_hits: list[str]
    dwell_ms: int | None = None


class Timeline(BaseModel):
    plate: str
    first_seen: int | None
    last_seen: int | None
    cameras: list[str]
    sites: list[str]
    stops: list[Stop]


@router.get("/{plate}/timeline", response_model=Timeline)
def timeline(
    plate: str,
    request: Request,
    state: StateDep,
    p: Search,
    _why: RequiredPurpose,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 1000,
) -> dict[str, Any]:
    """Every passage of one plate in time order, with the time to the next camera."""
    norm = normalise(plate)
    if not norm or len(norm) > 32:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "plate must have 1-32 letters or digits"
        )
    try:
        lo, hi = (to_ms(since) if since else 0), (to_ms(until) if until else 32503680000000)
    except (OverflowError, ValueError, OSError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad time: {exc}") from exc
    # The latest version of each passage wins (a corrected plate leaves this timeline).
    try:
        found, _cursor = run_search(
            state.clickhouse,
            EventQuery(
                plate=norm,
                mode="exact",
                since_ms=lo,
                until_ms=hi,
                limit=limit,
            ),
        )
    except QueryError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    rows = sorted(found, key=lambda r: (r["ts"], r["event_id"]))
    for r in rows:
        r["ts_ms"] = r["ts"]
    stops = []
    for i, r in enumerate(rows):
        nxt = rows[i + 1]["ts_ms"] if i + 1 < len(rows) else None
        stops.append(
            {
                "event_id": r["event_id"],
                "camera_id": r["camera_id"],
                "camera_name": r["camera_name"],
                "site": r["site"],
                "zone": r["zone"],
                "ts": int(r["ts_ms"]),
                "direction": r["direction"],
                "confidence": round(float(r["confidence"]), 4),
                "lat": r["lat"],
                "lon": r["lon"],
                "watchlist_hits": list(r["watchlist_hits"]),
                "dwell_ms": int(nxt - r["ts_ms"]) if nxt is not None else None,
            }
        )
    audit(
        state,
        request,
        p,
        "timeline",
        resource="/api/v1/plates/{plate}/timeline",
        query={"plate": norm, "since": lo, "until": hi},
        result_count=len(stops),
    )
    return {
        "plate": norm,
        "first_seen": stops[0]["ts"] if stops else None,
        "last_seen": stops[-1]["ts"] if stops else None,
        "cameras": sorted({s["camera_id"] for s in stops}),
        "sites": sorted({s["site"] for s in stops if s["site"]}),
        "stops": stops,
    }
