"""Resolve wildcard and fuzzy plate searches to plate sets through the search indexes.

The sink's migration 003_search keeps, from every insert into ``plate_events``: the distinct plates
(``plate_dictionary``, ordered by plate), the SymSpell deletion variants of each plate's skeleton
(``plate_variants``, ordered by variant) and the 3-grams of ``^plate$`` (``plate_grams``, ordered
by gram). A fuzzy search within two edits is then a handful of primary-key lookups, a wildcard
pattern with three literal characters (anchors count) a lookup per gram, and both end in a set of
plates that `services.api.search` fetches events for from ``plate_event_index`` (ordered by plate).

Matching is exactly what the event-table SQL computes (see `services.api.search`): a plate matches
fuzzily when its skeleton is within ``ceil(max_distance)`` edits of the query's skeleton and the
weighted score is within ``max_distance``; the indexes only find candidates, the same SQL
expressions decide. When a set would exceed `MAX_RESOLVED` plates, `resolve` answers None and the
caller uses the unresolved path (correct, only slower). Also here: the limits every search query
carries (`SEARCH_SETTINGS`) and the latest-version check through ``plate_event_versions``.
"""

from __future__ import annotations

import re
from typing import Any

from platestream.plates import CONFUSABLE_COST, normalise, skeleton

# Must match 003_search.sql: skeletons up to this length have deletion variants up to 2 edits.
MAX_VARIANT_LEN = 12
MAX_VARIANT_EDITS = 2
MAX_RESOLVED = 10_000
GRAM = 3
SKELETON_SQL = "translate(plate, 'ODQILTBZSG', '0001118256')"
# Server-side limits sent with every search query: a query that would read more or run longer is
# stopped by ClickHouse and answered 503, instead of holding a worker and the endpoint. A real
# ClickHouse server also cancels the query when the API's connection to it closes (the API timed
# out or died); the local chDB endpoint ignores that one and relies on max_execution_time.
SEARCH_SETTINGS: dict[str, Any] = {
    "cancel_http_readonly_queries_on_client_close": 1,
    "max_execution_time": 10,
    "timeout_overflow_mode": "throw",
    "max_rows_to_read": 100_000_000,
    "read_overflow_mode": "throw",
    "max_result_rows": 100_000,
    "result_overflow_mode": "throw",
}


def score_sql(skeleton_column: str) -> str:
    """Tenths of the weighted distance between ``plate`` and the query (as in search.py)."""
    raw = "editDistanceUTF8(plate, {plate:String})"
    sk = f"editDistanceUTF8({skeleton_column}, {{skel:String}})"
    return f"toUInt32(round(10 * ({sk} + {CONFUSABLE_COST} * ({raw} - {sk}))))"


def deletion_variants(text: str, k: int) -> list[str]:
    """Every string obtained from ``text`` by deleting at most ``k`` characters (itself included)."""
    out = {text}
    frontier = {text}
    for _ in range(k):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        out |= frontier
    return sorted(out)


def like_grams(like: str) -> list[str]:
    """The 3-grams of ``^plate$`` that every plate matching the LIKE pattern (``%``/``_``) holds."""
    runs = re.split(r"[%_]", like)
    runs[0] = "^" + runs[0] if not like.startswith(("%", "_")) else runs[0]
    runs[-1] = runs[-1] + "$" if not like.endswith(("%", "_")) else runs[-1]
    grams = {run[i : i + GRAM] for run in runs for i in range(len(run) - GRAM + 1)}
    return sorted(grams)


def _fuzzy_params(plate: str, max_distance: float) -> dict[str, Any]:
    return {
        "plate": plate,
        "skel": skeleton(plate),
        "max_edits": int(max_distance + 0.999),
        "max_tenths": round(max_distance * 10),
    }


def fuzzy_sql(plate: str, max_distance: float) -> tuple[str, dict[str, Any]]:
    """SQL returning (plate, score) of every dictionary plate within ``max_distance``."""
    params = _fuzzy_params(plate, max_distance)
    k = params["max_edits"]
    verify = (
        "editDistanceUTF8(plate_skeleton, {skel:String}) <= {max_edits:UInt32} "
        "AND score <= {max_tenths:UInt32}"
    )
    if k <= MAX_VARIANT_EDITS and len(plate) + k <= MAX_VARIANT_LEN:
        params["variants"] = deletion_variants(params["skel"], k)
        source = (
            f"(SELECT DISTINCT plate, {SKELETON_SQL} AS plate_skeleton FROM plate_variants "
            "WHERE variant IN {variants:Array(String)} AND dels <= {max_edits:UInt32})"
        )
    else:  # a plate outside the variant index could match: read the whole dictionary
        params["plate_len"] = len(plate)
        source = (
            "(SELECT DISTINCT plate, plate_skeleton FROM plate_dictionary "
            "WHERE abs(toInt64(lengthUTF8(plate)) - {plate_len:Int64}) <= {max_edits:UInt32})"
        )
    sql = (
        f"SELECT plate, {score_sql('plate_skeleton')} AS score FROM {source} "
        f"WHERE {verify} LIMIT {MAX_RESOLVED + 1}"
    )
    return sql, params


def wildcard_sql(like: str) -> tuple[str, dict[str, Any]]:
    """SQL returning (plate, 0) of every dictionary plate matching the LIKE pattern."""
    grams = like_grams(like)
    params: dict[str, Any] = {"plate_like": like}
    if grams:
        params.update(grams=grams, n_grams=len(grams))
        sql = (
            "SELECT plate, toUInt32(0) AS score FROM plate_grams WHERE gram IN {grams:Array(String)} "
            "GROUP BY plate HAVING uniqExact(gram) = {n_grams:UInt32} AND plate LIKE {plate_like:String}"
        )
    else:  # no three literal characters: the dictionary by its key prefix, if any, else all of it
        sql = (
            "SELECT DISTINCT plate, toUInt32(0) AS score FROM plate_dictionary "
            "WHERE plate LIKE {plate_like:String}"
        )
    return sql + f" LIMIT {MAX_RESOLVED + 1}", params


def resolve(
    client: Any, mode: str, text: str, max_distance: float, settings: dict[str, Any]
) -> dict[str, int] | None:
    """plate -> score (tenths of an edit; 0 for wildcards), or None when the set is too large.

    ``text`` is the normalised plate (fuzzy) or the LIKE pattern (wildcard).
    """
    if mode == "fuzzy":
        sql, params = fuzzy_sql(normalise(text), max_distance)
    elif mode == "wildcard":
        sql, params = wildcard_sql(text)
    else:
        raise ValueError(f"mode {mode!r} needs no resolution")
    rows = client.query(sql, parameters=params, settings=settings).result_rows
    if len(rows) > MAX_RESOLVED:
        return None
    return {str(r[0]): int(r[1]) for r in rows}


def latest_versions(client: Any, keys: list[dict[str, Any]]) -> dict[str, int]:
    """event_id -> its highest version, from plate_event_versions (ordered by event id)."""
    if not keys:
        return {}
    params = {"ids": sorted({str(k["event_id"]) for k in keys})}
    sql = (
        "SELECT event_id, max(version) FROM plate_event_versions "
        "WHERE event_id IN {ids:Array(String)} GROUP BY event_id"
    )
    rows = client.query(sql, parameters=params, settings=SEARCH_SETTINGS).result_rows
    return {str(r[0]): int(r[1]) for r in rows}
