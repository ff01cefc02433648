"""Traffic statistics: per camera/hour/direction, top plates, reads vs passages, alerts.

Only the top-plates list names plates: with `top` > 0 the caller states a purpose (issue 17) as
for any view of plate data; `top=0` asks for the aggregates alone (counts per camera, hour,
direction and alert priority), which name no plate and need none.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request, status

from platestream.timeutil import now_ms, to_ms
from services.api.deps import Search, StateDep, audit
from services.api.purpose import CASE_HEADER, PURPOSE_HEADER, check_purpose
from services.api.search_sql import FAST_FINAL

router = APIRouter(prefix="/api/v1/stats", tags=["stats"])

DAY_MS = 86_400_000
RANGE = "{t}ts >= fromUnixTimestamp64Milli({{since:Int64}}, 'UTC') AND {t}ts < fromUnixTimestamp64Milli({{until:Int64}}, 'UTC')"
HOURLY_SQL = (
    "SELECT camera_id, toUnixTimestamp(hour) * 1000 AS hour_ms, direction, uniqMerge(passages) AS passages "
    "FROM camera_hourly_counts WHERE hour >= toStartOfHour(fromUnixTimestamp64Milli({since:Int64}, 'UTC')) "
    "AND hour < fromUnixTimestamp64Milli({until:Int64}, 'UTC') "
    "GROUP BY camera_id, hour, direction ORDER BY hour, camera_id, direction LIMIT 100000"
)
PER_CAMERA_SQL = (
    "SELECT camera_id, countIf(direction = 'approaching') AS approaching, countIf(direction = 'leaving') AS leaving, "
    "count() AS passages FROM plate_events FINAL WHERE "
    + RANGE.format(t="")
    + " GROUP BY camera_id ORDER BY camera_id"
    + FAST_FINAL
)
TOP_SQL = (
    "SELECT plate, count() AS passages, uniqExact(camera_id) AS cameras FROM plate_events FINAL WHERE "
    + RANGE.format(t="")
    + " GROUP BY plate ORDER BY passages DESC, plate LIMIT {top:UInt32}"
    + FAST_FINAL
)
PASSAGES_SQL = "SELECT count() FROM plate_events FINAL WHERE " + RANGE.format(t="") + FAST_FINAL
READS_SQL = "SELECT count() FROM plate_reads WHERE " + RANGE.format(t="")
CAMERA_EVENTS_SQL = "SELECT count() FROM camera_events WHERE " + RANGE.format(t="")
ALERTS_SQL = (
    "SELECT priority, count() AS n FROM alerts FINAL WHERE "
    + RANGE.format(t="")
    + " GROUP BY priority ORDER BY priority"
    + FAST_FINAL
)


def resolve_range(
    period: str, since: datetime | None, until: datetime | None, now: int | None = None
) -> tuple[int, int]:
    now = now_ms() if now is None else now
    if period == "custom":
        if since is None or until is None:
            raise HTTPException(
                status.HTTP_422_UNPROCESSABLE_CONTENT, "custom needs since and until"
            )
        try:
            lo, hi = to_ms(since), to_ms(until)
        except (OverflowError, ValueError, OSError) as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, f"bad time: {exc}") from exc
        if hi <= lo:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "until must be after since")
        return lo, hi
    if period == "today":
        midnight = datetime.fromtimestamp(now / 1000, tz=UTC).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        return to_ms(midnight), now + 1
    days = {"7d": 7, "30d": 30}[period]
    return now - days * DAY_MS, now + 1


def _scalar(client: Any, sql: str, params: dict[str, Any]) -> int:
    return int(client.query(sql, parameters=params).result_rows[0][0])


@router.get("")
def stats(
    request: Request,
    state: StateDep,
    p: Search,
    period: Annotated[Literal["today", "7d", "30d", "custom"], Query()] = "today",
    since: datetime | None = None,
    until: datetime | None = None,
    top: Annotated[
        int, Query(ge=0, le=100, description="Top plates to list; 0: aggregates only.")
    ] = 10,
    purpose: Annotated[
        str | None,
        Query(max_length=64, description="Why you are looking; needed when top > 0."),
    ] = None,
    case_id: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Counts over today, 7 days, 30 days or a custom range (UTC)."""
    request.state.purpose = check_purpose(
        purpose if purpose is not None else request.headers.get(PURPOSE_HEADER),
        case_id if case_id is not None else request.headers.get(CASE_HEADER),
        allowed=state.settings.api_purposes,
        required=top > 0 and p.role in state.settings.api_purpose_roles,
    )
    lo, hi = resolve_range(period, since, until)
    params = {"since": lo, "until": hi, "top": top}
    ch = state.clickhouse
    hourly = [
        {
            "camera_id": r["camera_id"],
            "hour": int(r["hour_ms"]),
            "direction": r["direction"],
            "passages": int(r["passages"]),
        }
        for r in ch.query(HOURLY_SQL, parameters=params).named_results()
    ]
    per_camera = [dict(r) for r in ch.query(PER_CAMERA_SQL, parameters=params).named_results()]
    top_plates = (
        [dict(r) for r in ch.query(TOP_SQL, parameters=params).named_results()] if top else []
    )
    alerts = {
        r["priority"]: int(r["n"]) for r in ch.query(ALERTS_SQL, parameters=params).named_results()
    }
    passages = _scalar(ch, PASSAGES_SQL, params)
    out = {
        "since": lo,
        "until": hi,
        "passages": passages,
        "reads": _scalar(ch, READS_SQL, params) + _scalar(ch, CAMERA_EVENTS_SQL, params),
        "per_camera": per_camera,
        "hourly": hourly,
        "top_plates": top_plates,
        "alerts": {"total": sum(alerts.values()), "by_priority": alerts},
    }
    audit(
        state,
        request,
        p,
        "stats",
        query={"period": period, "since": lo, "until": hi, "top": top},
        result_count=passages,
    )
    return out
