"""Investigations: convoys, journeys, origin-destination, travel times, dwell and anomalies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status

from platestream.limits import MAX_PLATE_CHARS
from platestream.plates import normalise
from platestream.timeutil import now_ms, to_ms
from services.api import investigations as q
from services.api.deps import Search, StateDep, audit
from services.api.purpose import RequiredPurpose

router = APIRouter(prefix="/api/v1/investigations", tags=["investigations"])

DAY_MS = 86_400_000
MAX_DAYS = 366

Since = Annotated[datetime | None, Query(description="Start (UTC); default: `days` before until.")]
Until = Annotated[datetime | None, Query(description="End (UTC, exclusive); default: now.")]
Days = Annotated[int, Query(ge=1, le=MAX_DAYS, description="Days back from until.")]
GapS = Annotated[
    int, Query(ge=60, le=7 * 86_400, description="A gap longer than this ends a trip.")
]
Plate = Annotated[str, Query(min_length=1, max_length=MAX_PLATE_CHARS * 2)]


def window(since: datetime | None, until: datetime | None, days: int) -> tuple[int, int]:
    """The query's time range in epoch ms; 422 when it is empty or longer than MAX_DAYS."""
    try:
        hi = to_ms(until) if until is not None else now_ms()
        lo = to_ms(since) if since is not None else hi - days * DAY_MS
    except (OverflowError, ValueError, OSError) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad time: {exc}") from exc
    if hi <= lo:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "until must be after since")
    if hi - lo > MAX_DAYS * DAY_MS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"at most {MAX_DAYS} days")
    return lo, hi


def plate_of(text: str) -> str:
    plate = normalise(text)
    if not plate or len(plate) > MAX_PLATE_CHARS:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "not a plate")
    return plate


@router.get("/convoys")
def convoys(
    request: Request,
    state: StateDep,
    p: Search,
    _why: RequiredPurpose,
    plate: Plate,
    within_s: Annotated[int, Query(ge=1, le=3600, description="Seconds either side.")] = 60,
    min_occasions: Annotated[int, Query(ge=1, le=1000)] = 3,
    min_cameras: Annotated[
        int, Query(ge=1, le=100, description="Same cameras passed together on one occasion.")
    ] = 2,
    min_share: Annotated[
        float,
        Query(ge=0.0, le=1.0, description="Occasions over the trips of the less travelled plate."),
    ] = 0.5,
    days: Days = 30,
    gap_s: GapS = 1800,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Plates travelling with a plate: same cameras within seconds, on enough separate trips."""
    lo, hi = window(since, until, days)
    target = plate_of(plate)
    rows = q.convoys(
        state.clickhouse,
        plate=target,
        since=lo,
        until=hi,
        within_ms=within_s * 1000,
        gap_ms=gap_s * 1000,
        min_occasions=min_occasions,
        min_cameras=min_cameras,
        min_share=min_share,
        limit=limit,
    )
    audit(state, request, p, "investigate.convoys", query={"plate": target}, result_count=len(rows))
    return {"plate": target, "since": lo, "until": hi, "companions": rows}


@router.get("/journeys")
def journeys(
    request: Request,
    state: StateDep,
    p: Search,
    _why: RequiredPurpose,
    plate: Plate,
    days: Days = 7,
    gap_s: GapS = 1800,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """A plate's trips: consecutive passages, split where the gap exceeds gap_s."""
    lo, hi = window(since, until, days)
    target = plate_of(plate)
    rows = q.journeys(state.clickhouse, plate=target, since=lo, until=hi, gap_ms=gap_s * 1000)
    audit(
        state, request, p, "investigate.journeys", query={"plate": target}, result_count=len(rows)
    )
    return {"plate": target, "since": lo, "until": hi, "trips": rows}


Fresh = Annotated[
    bool,
    Query(
        description="Query the passages now instead of the refreshable view (migration 009),"
        " which answers the default gap_s as of its last refresh (refreshed_at)."
    ),
]


def view_refreshed_at(
    state: Any, kind: Literal["od", "travel"], fresh: bool, gap_s: int
) -> int | None:
    """When the view that can answer was last refreshed; None: ask the passages (live query)."""
    if fresh or gap_s * 1000 != q.VIEW_GAP_MS:
        return None
    return q.refreshed_at(state.clickhouse, kind)


@router.get("/od")
def od(
    request: Request,
    state: StateDep,
    p: Search,
    by: Literal["site", "zone"] = "site",
    days: Days = 1,
    gap_s: GapS = 1800,
    since: Since = None,
    until: Until = None,
    fresh: Fresh = False,
) -> dict[str, Any]:
    """Origin-destination matrix: trips per hour from one site (or zone) to another."""
    lo, hi = window(since, until, days)
    refreshed = view_refreshed_at(state, "od", fresh, gap_s)
    if refreshed is None:
        rows = q.od_matrix(state.clickhouse, since=lo, until=hi, gap_ms=gap_s * 1000, by=by)
    else:
        rows = q.od_from_view(state.clickhouse, since=lo, until=hi, by=by)
    audit(state, request, p, "investigate.od", query={"by": by}, result_count=len(rows))
    source = "live" if refreshed is None else "view"
    return {
        "by": by,
        "since": lo,
        "until": hi,
        "source": source,
        "refreshed_at": refreshed,
        "cells": rows,
    }


@router.get("/travel-times")
def travel_times(
    request: Request,
    state: StateDep,
    p: Search,
    days: Days = 7,
    gap_s: GapS = 1800,
    min_trips: Annotated[int, Query(ge=1, le=100_000)] = 1,
    since: Since = None,
    until: Until = None,
    fresh: Fresh = False,
) -> dict[str, Any]:
    """Median and p90 travel time between consecutive cameras of a trip, per camera pair."""
    lo, hi = window(since, until, days)
    refreshed = view_refreshed_at(state, "travel", fresh, gap_s)
    if refreshed is None:
        rows = q.travel_times(
            state.clickhouse, since=lo, until=hi, gap_ms=gap_s * 1000, min_trips=min_trips
        )
    else:
        rows = q.travel_times_from_view(state.clickhouse, since=lo, until=hi, min_trips=min_trips)
    audit(state, request, p, "investigate.travel_times", result_count=len(rows))
    source = "live" if refreshed is None else "view"
    return {"since": lo, "until": hi, "source": source, "refreshed_at": refreshed, "pairs": rows}


@router.get("/dwell")
def dwell(
    request: Request,
    state: StateDep,
    p: Search,
    _why: RequiredPurpose,
    site: Annotated[str | None, Query(max_length=200)] = None,
    limit_s: Annotated[float, Query(gt=0, description="Stays longer are overstays.")] = 14_400,
    days: Days = 7,
    since: Since = None,
    until: Until = None,
) -> dict[str, Any]:
    """Stays per site (entry then exit), vehicles inside, and the overstays past limit_s."""
    lo, hi = window(since, until, days)
    now = now_ms()
    ch = state.clickhouse
    sites = q.dwell(ch, since=lo, until=hi, now=now, limit_s=limit_s, site=site)
    over = q.overstays(ch, since=lo, until=hi, now=now, limit_s=limit_s, site=site)
    audit(state, request, p, "investigate.dwell", query={"site": site}, result_count=len(over))
    return {"since": lo, "until": hi, "limit_s": limit_s, "sites": sites, "overstays": over}


@router.get("/anomalies")
def anomalies(
    request: Request,
    state: StateDep,
    p: Search,
    _why: RequiredPurpose,
    kind: Literal["clone", "misread", "overstay"] | None = None,
    days: Days = 7,
    since: Since = None,
    until: Until = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Cloned and misread plates found by the live detector, newest first."""
    lo, hi = window(since, until, days)
    rows = q.anomalies(state.clickhouse, since=lo, until=hi, kind=kind, limit=limit)
    audit(state, request, p, "investigate.anomalies", query={"kind": kind}, result_count=len(rows))
    return {"since": lo, "until": hi, "anomalies": rows}
