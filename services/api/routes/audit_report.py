"""Audit report (issue 17 item 5): who searched what, when, and why, per user or per plate.

Reads ``audit_log``, the sink's projection of ``anpr.audit.v1``; it writes nothing but its own
audit record. Per user: every record whose actor is the user (``user:NAME`` or a key's
``key:ID``; a bare name means the user). Per plate: every plate query that found the plate
(exact, or a wildcard/prefix/fuzzy pattern that matches it, decided in Python by the same rule as
the subject-access archive) and every view of one of its events. Newest first, at most ``limit``
entries; the per-plate scan reads at most ``MAX_SCAN`` audit rows (``scan_capped`` says so).
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel

from platestream.plates import normalise
from platestream.privacy.subject_access import searched_matches
from services.api.deps import Admin, StateDep, audit
from services.api.purpose import RequiredPurpose

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/api/v1/audit", tags=["audit"])

MAX_SCAN = 200_000
BLOCK = {"max_block_size": 1000, "preferred_block_size_bytes": 1 << 20}
_COLUMNS = (
    "ts, actor, role, action, resource, query, result_count, status, request_id, "
    "JSONExtractString(query, 'plate') AS searched, JSONExtractString(query, 'mode') AS mode, "
    "JSONExtractFloat(query, 'max_distance') AS dist, "
    "JSONExtractString(query, 'purpose') AS purpose, JSONExtractString(query, 'case_id') AS case_id"
)
USER_SQL = (
    f"SELECT {_COLUMNS} FROM audit_log WHERE actor IN {{actors:Array(String)}} "
    "AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
    "ORDER BY ts DESC, audit_id LIMIT 1 BY audit_id LIMIT {limit:UInt32}"
)
PLATE_SQL = (
    f"SELECT {_COLUMNS}, JSONExtractString(query, 'event_id') IN "
    "(SELECT event_id FROM plate_events WHERE plate = {plate:String}) AS about_event "
    "FROM audit_log WHERE (searched != '' OR about_event) "
    "AND ts >= {since:DateTime64(3)} AND ts < {until:DateTime64(3)} "
    "ORDER BY ts DESC, audit_id LIMIT 1 BY audit_id LIMIT {scan:UInt32}"
)


class AuditEntry(BaseModel):
    ts: datetime
    actor: str
    role: str
    action: str
    resource: str
    searched: str | None
    match: str | None  # per plate: exact, pattern or event (a view of one of its events)
    purpose: str | None
    case_id: str | None
    result_count: int | None
    status: int
    request_id: str | None


class AuditReport(BaseModel):
    user: str | None
    plate: str | None
    since: datetime
    until: datetime
    entries: list[AuditEntry]
    by_action: dict[str, int]
    by_purpose: dict[str, int]  # "" : no purpose stated
    truncated: bool
    scan_capped: bool = False


def _entry(row: dict[str, Any], match: str | None) -> AuditEntry:
    return AuditEntry(
        ts=row["ts"],
        actor=row["actor"],
        role=row["role"],
        action=row["action"],
        resource=row["resource"],
        searched=row["searched"] or None,
        match=match,
        purpose=row["purpose"] or None,
        case_id=row["case_id"] or None,
        result_count=row["result_count"],
        status=int(row["status"]),
        request_id=row["request_id"],
    )


def _rows(clickhouse: Any, sql: str, params: dict[str, Any]) -> Any:
    with clickhouse.query_row_block_stream(sql, parameters=params, settings=BLOCK) as stream:
        names = stream.source.column_names
        for block in stream:
            for row in block:
                yield dict(zip(names, row, strict=True))


def _utc(when: datetime) -> datetime:
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def actors_of(user: str) -> list[str]:
    """The audit actors a user query names: as given when it has a kind, else the user."""
    return [user] if ":" in user else [f"user:{user}"]


@router.get("/report", response_model=AuditReport)
def report(
    request: Request,
    state: StateDep,
    p: Admin,
    why: RequiredPurpose,
    user: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
    plate: Annotated[str | None, Query(min_length=1, max_length=32)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> AuditReport:
    """Who searched what, when, with which purpose and case: per user, or per plate."""
    if (user is None) == (plate is None):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "give exactly one of user, plate"
        )
    norm = normalise(plate) if plate is not None else None
    if plate is not None and not norm:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "plate must have 1-32 letters or digits"
        )
    until = _utc(until) if until else datetime.now(UTC) + timedelta(minutes=1)
    since = _utc(since) if since else until - timedelta(days=365)
    if since >= until:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "since must be before until")
    window = {"since": since.replace(tzinfo=None), "until": until.replace(tzinfo=None)}
    entries: list[AuditEntry] = []
    truncated = capped = False
    ch = state.clickhouse
    if user is not None:
        params = {"actors": actors_of(user), "limit": limit + 1, **window}
        entries = [_entry(r, None) for r in _rows(ch, USER_SQL, params)]
    else:
        scanned = 0
        params = {"plate": norm, "scan": MAX_SCAN, **window}
        for row in _rows(ch, PLATE_SQL, params):
            scanned += 1
            how = "event" if row["about_event"] else None
            if how is None:
                how = searched_matches(
                    str(norm), row["searched"], row["mode"], float(row["dist"] or 0)
                )
            if how is not None:
                entries.append(_entry(row, how))
                if len(entries) > limit:
                    break
        capped = scanned >= MAX_SCAN
    if len(entries) > limit:
        entries, truncated = entries[:limit], True
    query: dict[str, object] = {
        "user": user,
        "plate": norm,
        "since": since.isoformat(),
        "until": until.isoformat(),
    }
    audit(state, request, p, "audit_report", query=query, result_count=len(entries))
    return AuditReport(
        user=user,
        plate=norm,
        since=since,
        until=until,
        entries=entries,
        by_action=dict(Counter(e.action for e in entries)),
        by_purpose=dict(Counter(e.purpose or "" for e in entries)),
        truncated=truncated,
        scan_capped=capped,
    )
