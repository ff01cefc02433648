"""Running a plate-event search: one page of the latest versions, and the cursor of the next.

The latest version of each event wins: the rows a correction superseded are dropped from what the
page's query (`services.api.search_sql`) returns, and more rows asked for when that leaves the page
short, so pages are full. Wildcard and fuzzy patterns are first resolved to plate sets
(`services.api.plate_index`), and the page is fetched from the few plates that can hold it, or
from the whole set when a check on the rows says it must.
"""

from __future__ import annotations

from typing import Any

from services.api import plate_index, plate_pages
from services.api.plate_index import SEARCH_SETTINGS
from services.api.search_rows import row_to_event
from services.api.search_sql import (
    EventQuery,
    QueryError,
    build_search,
    build_where,
    decode_cursor,
    next_cursor,
    wildcard_to_like,
)

__all__ = ["SEARCH_SETTINGS", "EventQuery", "QueryError", "run_search"]

WIDEN = 8  # how much larger each next try of the likely plates is
# With a time window the first try takes twice the page's plates: the dictionary's first and last
# seen say only that a plate may have rows in the window, and at 1M bench events a two-edit fuzzy
# search in a week fetched a second time in 24 of 60 searches with the page's count, 0 (by score)
# and 5 (by time) with twice it (p90 142-150 -> 106-131 ms by score; docs/api.md).
WINDOW_FIRST = 2
# A pattern's plates are first asked for in the page's order, this many: a page of 50 widened once.
# Fewer plates to sort and send: a suffix wildcard (~17,500 plates at 30M bench events) 58 -> 46 ms
# p50 with 512 instead of 4,096 (run_search direct, interleaved); a page that needs more asks for all.
TOP_PLATES = 512


def distinct_versions(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` without repeats of an (event_id, version): copies sort next to each other."""
    out: list[dict[str, Any]] = []
    for row in rows:
        if not out or (row["event_id"], row["version"]) != (
            out[-1]["event_id"],
            out[-1]["version"],
        ):
            out.append(row)
    return out


def _fetch(
    client: Any, q: EventQuery, page: int, resolved: dict[str, int] | None
) -> list[dict[str, Any]]:
    """Up to ``page + 1`` distinct rows of their event's latest version; asks for twice as many
    while superseded versions or copies left it short."""
    ask = page
    settings = plate_index.page_settings(len(resolved) if resolved is not None else 0)
    while True:
        sql, params = build_search(q, limit=ask, resolved=resolved)
        raw = list(client.query(sql, parameters=params, settings=settings).named_results())
        rows = distinct_versions([r for r in raw if not r["superseded"]])
        if len(rows) > page or len(raw) <= ask:
            return rows[: page + 1]
        ask *= 2


def _resolved_rows(client: Any, q: EventQuery, page: int) -> list[dict[str, Any]] | None:
    """The page's rows of a wildcard or fuzzy search; None when the pattern resolved to too many
    plates for the indexes (the caller searches the event table)."""
    mode = q.resolved_mode()
    text = wildcard_to_like(q.plate or "") if mode == "wildcard" else q.plate or ""
    by_score = q.sort == "score"
    # sorted by score with no time window, the plates' first/last seen are not needed
    times = not by_score or q.since_ms is not None or q.until_ms is not None
    upper, low_score = q.until_ms, 0
    if q.cursor:
        c = decode_cursor(q.cursor, q.sort)
        if by_score:
            low_score = int(c[0])
        else:
            upper = int(c[0]) if upper is None else min(upper, int(c[0]))
    top = plate_index.Top(TOP_PLATES, by_score, q.since_ms, q.until_ms, upper, low_score)

    def resolve(top: plate_index.Top | None) -> plate_index.Resolved | None:
        return plate_index.resolve(
            client, mode, text, q.max_distance, SEARCH_SETTINGS, times=times, top=top
        )

    resolved = resolve(top)
    if resolved is None:
        return None
    found, beyond = (
        plate_pages.within_times(resolved.found, q.since_ms, q.until_ms),
        resolved.beyond,
    )
    # Filters can empty plates: widen the likely set 8 times per try before taking all of it.
    count = (page + 1) * (WINDOW_FIRST if q.since_ms is not None or q.until_ms is not None else 1)
    while True:
        likely = plate_pages.likely_plates(
            found, count, by_score=by_score, upper=upper, low_score=low_score, beyond=beyond
        )
        if likely is None and beyond is not None:  # the first plates are not enough: all of them
            if (resolved := resolve(None)) is None:
                return None
            found, beyond = plate_pages.within_times(resolved.found, q.since_ms, q.until_ms), None
            continue
        if likely is None:
            break
        rows = _fetch(client, q, page, likely.plates)
        if plate_pages.page_is_complete(rows, page + 1, likely, by_score=by_score):
            return rows
        count *= WIDEN
    if not found:
        return []
    return _fetch(client, q, page, {p: c.score for p, c in found.items()})


def run_search(
    client: Any, q: EventQuery, *, limit: int | None = None
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of events and the cursor of the next page (None at the end)."""
    page = limit or q.limit
    build_where(q, {})  # validates the query before any round trip
    rows = None
    if q.plate and q.resolved_mode() in ("wildcard", "fuzzy"):
        rows = _resolved_rows(client, q, page)
    if rows is None:
        rows = _fetch(client, q, page, None)
    more = len(rows) > page
    rows = rows[:page]
    cursor = next_cursor(q, rows[-1]) if more and rows else None
    return [row_to_event(r) for r in rows], cursor
