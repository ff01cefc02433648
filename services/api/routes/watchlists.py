"""Watchlists: entries CRUD and bulk CSV import, published to anpr.bolo.v1."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, HTTPException, Path, Query, Request, status
from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from platestream import topics as catalogue
from platestream.errors import BadInputError
from platestream.ids import stable_id
from platestream.limits import MAX_PATTERN_CHARS, MAX_PLATE_CHARS, compile_regex
from platestream.plates import normalise
from platestream.timeutil import now_ms, to_ms
from services.api.deps import StateDep, WatchlistRead, WatchlistWrite, audit
from services.api.state import AppState

router = APIRouter(prefix="/api/v1/watchlists", tags=["watchlists"])

ListId = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
MAX_IMPORT_BYTES = 8 * 1024 * 1024


class EntryIn(BaseModel):
    list_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    list_kind: Literal["bolo", "allow"] = "bolo"
    # Before ``pattern``: the pattern's validator reads it.
    match_type: Literal["exact", "wildcard", "regex", "fuzzy"] = "exact"
    pattern: str = Field(min_length=1, max_length=MAX_PATTERN_CHARS)
    max_distance: int = Field(default=1, ge=0, le=3)
    reason: str = Field(default="", max_length=500)
    priority: Literal["low", "medium", "high", "critical"] = "medium"
    camera_ids: list[str] = Field(default_factory=list, max_length=500)
    zones: list[str] = Field(default_factory=list, max_length=100)
    valid_from: datetime | None = None
    valid_until: datetime | None = None

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str, info: ValidationInfo) -> str:
        match_type = info.data.get("match_type")
        return v if match_type is None else clean_pattern(v, match_type)

    @model_validator(mode="after")
    def _window(self) -> EntryIn:
        if self.valid_from and self.valid_until and self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        return self


class EntryOut(BaseModel):
    entry_id: str
    list_id: str
    list_kind: str
    pattern: str
    match_type: str
    max_distance: int
    reason: str
    priority: str
    camera_ids: list[str]
    zones: list[str]
    valid_from: int | None
    valid_until: int | None
    owner: str
    updated_at: int


class ListSummary(BaseModel):
    list_id: str
    list_kind: str
    entries: int


class ImportResult(BaseModel):
    imported: int
    errors: list[dict[str, Any]]

    @field_validator("errors")
    @classmethod
    def _cap(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return v[:100]


def clean_pattern(pattern: str, match_type: str) -> str:
    if match_type == "regex":
        try:
            compile_regex(pattern)  # the engine enrich matches with (linear time)
        except BadInputError as exc:
            raise ValueError(str(exc)) from exc
        return pattern
    if match_type == "wildcard":
        out = "".join(ch if ch in "?*" else normalise(ch) for ch in pattern)
    else:
        out = normalise(pattern)
    if not out.strip("?*"):
        raise ValueError("pattern has no letters or digits")
    if match_type != "wildcard" and len(out) > MAX_PLATE_CHARS:
        raise ValueError(f"plate pattern longer than {MAX_PLATE_CHARS} characters")
    return out


def entry_record(body: EntryIn, owner: str, entry_id: str | None = None) -> dict[str, Any]:
    return {
        "entry_id": entry_id or stable_id("bolo", body.list_id, body.match_type, body.pattern),
        "list_id": body.list_id,
        "list_kind": body.list_kind,
        "pattern": body.pattern,
        "match_type": body.match_type,
        "max_distance": body.max_distance,
        "reason": body.reason,
        "priority": body.priority,
        "camera_ids": list(body.camera_ids),
        "zones": list(body.zones),
        "valid_from": to_ms(body.valid_from) if body.valid_from else None,
        "valid_until": to_ms(body.valid_until) if body.valid_until else None,
        "owner": owner,
        "updated_at": now_ms(),
    }


def _publish_many(state: AppState, records: list[tuple[str, dict[str, Any] | None]]) -> None:
    last = state.publisher.publish_batch(catalogue.BOLO.name, catalogue.BOLO.schema, records)
    if not all(state.bolo.wait_for(part, off) for part, off in last.items()):
        for key, rec in records:
            state.bolo.apply(key, rec)


@router.get("", response_model=list[ListSummary])
def lists(state: StateDep, _p: WatchlistRead) -> list[dict[str, Any]]:
    """Watchlists with their entry counts."""
    summary: dict[str, dict[str, Any]] = {}
    for e in state.bolo.values():
        s = summary.setdefault(
            e["list_id"], {"list_id": e["list_id"], "list_kind": e["list_kind"], "entries": 0}
        )
        s["entries"] += 1
    return sorted(summary.values(), key=lambda s: s["list_id"])


@router.get("/entries", response_model=list[EntryOut])
def list_entries(
    state: StateDep,
    _p: WatchlistRead,
    list_id: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
) -> list[dict[str, Any]]:
    """Entries of one watchlist or of all."""
    out = [e for e in state.bolo.values() if list_id is None or e["list_id"] == list_id]
    return sorted(out, key=lambda e: (e["list_id"], e["pattern"]))[:limit]


@router.post("/entries", response_model=EntryOut, status_code=status.HTTP_201_CREATED)
def create_entry(
    body: EntryIn, request: Request, state: StateDep, p: WatchlistWrite
) -> dict[str, Any]:
    """Add an entry (the same list, match type and pattern give the same id: re-adding replaces it)."""
    rec = entry_record(body, p.name)
    _publish_many(state, [(rec["entry_id"], rec)])
    audit(
        state,
        request,
        p,
        "watchlist_change",
        query={"op": "create", "list_id": body.list_id, "entry_id": rec["entry_id"]},
        status_code=201,
    )
    return rec


@router.put("/entries/{entry_id}", response_model=EntryOut)
def put_entry(
    entry_id: str, body: EntryIn, request: Request, state: StateDep, p: WatchlistWrite
) -> dict[str, Any]:
    """Replace an entry."""
    if state.bolo.get(entry_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such entry")
    rec = entry_record(body, p.name, entry_id)
    _publish_many(state, [(entry_id, rec)])
    audit(state, request, p, "watchlist_change", query={"op": "update", "entry_id": entry_id})
    return rec


@router.delete("/entries/{entry_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_entry(entry_id: str, request: Request, state: StateDep, p: WatchlistWrite) -> None:
    """Delete an entry (a tombstone on anpr.bolo.v1)."""
    if state.bolo.get(entry_id) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such entry")
    _publish_many(state, [(entry_id, None)])
    audit(
        state,
        request,
        p,
        "watchlist_change",
        query={"op": "delete", "entry_id": entry_id},
        status_code=204,
    )


CSV_COLUMNS = (
    "pattern",
    "match_type",
    "max_distance",
    "reason",
    "priority",
    "camera_ids",
    "zones",
    "valid_from",
    "valid_until",
)


def parse_import(
    text: str, list_id: str, list_kind: str
) -> tuple[list[EntryIn], list[dict[str, Any]]]:
    """Rows of a CSV with a header (pattern required; camera_ids and zones separated by ';')."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    try:
        fieldnames = reader.fieldnames
        rows = list(reader)
    except csv.Error as exc:  # e.g. a bare carriage return inside an unquoted field
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"not a readable CSV: {exc}"
        ) from exc
    if not fieldnames or "pattern" not in [f.strip() for f in fieldnames]:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"CSV needs a header with 'pattern' ({', '.join(CSV_COLUMNS)})",
        )
    entries, errors = [], []
    for n, row in enumerate(rows, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in row.items() if k}
        try:
            data: dict[str, Any] = {
                "list_id": list_id,
                "list_kind": list_kind,
                "pattern": row.get("pattern", ""),
            }
            for key in ("match_type", "reason", "priority", "valid_from", "valid_until"):
                if row.get(key):
                    data[key] = row[key]
            if row.get("max_distance"):
                data["max_distance"] = int(row["max_distance"])
            for key in ("camera_ids", "zones"):
                if row.get(key):
                    data[key] = [x.strip() for x in row[key].split(";") if x.strip()]
            entries.append(EntryIn(**data))
        except ValidationError as exc:
            errors.append(
                {
                    "line": n,
                    "error": "; ".join(
                        f"{'.'.join(map(str, e['loc'])) or 'row'}: {e['msg']}" for e in exc.errors()
                    )[:300],
                }
            )
        except (ValueError, TypeError) as exc:
            errors.append({"line": n, "error": str(exc)[:300] or type(exc).__name__})
    return entries, errors


@router.post("/{list_id}/import", response_model=ImportResult)
def import_csv(
    list_id: ListId,
    request: Request,
    state: StateDep,
    p: WatchlistWrite,
    csv_text: Annotated[str, Body(media_type="text/csv", description="CSV with a header row.")],
    list_kind: Annotated[Literal["bolo", "allow"], Query()] = "bolo",
    replace: bool = False,
) -> dict[str, Any]:
    """Bulk import entries from CSV; with replace=true, entries of the list not in the file are deleted."""
    if len(csv_text) > MAX_IMPORT_BYTES:
        raise HTTPException(status.HTTP_413_REQUEST_ENTITY_TOO_LARGE, "CSV too large")
    entries, errors = parse_import(csv_text, list_id, list_kind)
    records: list[tuple[str, dict[str, Any] | None]] = []
    for e in entries:
        rec = entry_record(e, p.name)
        records.append((rec["entry_id"], rec))
    if replace:
        keep = {k for k, _ in records}
        records += [
            (e["entry_id"], None)
            for e in state.bolo.values()
            if e["list_id"] == list_id and e["entry_id"] not in keep
        ]
    _publish_many(state, records)
    audit(
        state,
        request,
        p,
        "watchlist_import",
        query={"list_id": list_id, "replace": replace, "errors": len(errors)},
        result_count=len(entries),
    )
    return {"imported": len(entries), "errors": errors}
