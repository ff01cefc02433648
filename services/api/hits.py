"""What an event's watchlist hits mean to a reader: entry ids become the watchlist (list id), the
reason and the priority, from the watchlist projection or, for entries deleted since, from the
alerts they raised."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

logger = logging.getLogger(__name__)

ALERT_ENTRIES_SQL = (
    "SELECT entry_id, any(list_id) AS list_id, any(reason) AS reason, any(priority) AS priority "
    "FROM alerts WHERE entry_id IN {ids:Array(String)} GROUP BY entry_id"
)


class HitOut(BaseModel):
    entry_id: str
    list_id: str | None
    reason: str | None
    priority: str | None


def describe_hits(state: Any, items: list[dict[str, Any]]) -> None:
    """Add ``hits`` (list of HitOut dicts) to each event, in the order of ``watchlist_hits``."""
    ids = {h for item in items for h in item.get("watchlist_hits") or ()}
    known: dict[str, dict[str, Any]] = {}
    for entry_id in ids:
        entry = state.bolo.get(entry_id)
        if entry is not None:
            known[entry_id] = entry
    missing = sorted(ids - set(known))
    if missing:
        try:
            rows = state.clickhouse.query(
                ALERT_ENTRIES_SQL, parameters={"ids": missing[:1000]}
            ).named_results()
            known.update({r["entry_id"]: r for r in rows})
        except Exception as exc:  # the names are a courtesy: never fail the search for them
            logger.warning("watchlist names of hits unavailable: %s", str(exc)[:200])
    for item in items:
        item["hits"] = [
            {
                "entry_id": h,
                "list_id": (known.get(h) or {}).get("list_id"),
                "reason": (known.get(h) or {}).get("reason"),
                "priority": (known.get(h) or {}).get("priority"),
            }
            for h in item.get("watchlist_hits") or ()
        ]
