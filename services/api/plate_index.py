"""Resolve wildcard and fuzzy plate searches to plate sets through the search indexes.

The sink's migration 003_search keeps, from every insert into ``plate_events``: the distinct plates
(``plate_dictionary``, ordered by plate), the SymSpell deletion variants of each plate's skeleton
with where the deletions were (``plate_variants``, ordered by variant and gaps since migration
013) and the 3-grams of ``^plate$`` (``plate_grams``, ordered by gram). A fuzzy search within two
edits is then a set of primary-key lookups (`variant_lookup`), a wildcard
pattern with three literal characters (anchors count) a lookup per gram, and both end in a set of
plates that `services.api.search` fetches events for from ``plate_event_index`` (ordered by plate).

Matching is exactly what the event-table SQL computes (see `services.api.search_sql`): a plate matches
fuzzily when its skeleton is within ``ceil(max_distance)`` edits of the query's skeleton and the
weighted score is within ``max_distance``; the indexes only find candidates, the same SQL
expressions decide. When a set would exceed `MAX_RESOLVED` plates, `resolve` answers None and the
caller uses the unresolved path (correct, only slower). Migration 010 rebuilt these tables with
256-row granules, so each of those lookups reads little.

A pattern can match thousands of plates (``*1234``), but a page needs few: each plate comes with
what the dictionary knows of it (first and last seen, best confidence), from which
`services.api.plate_pages` picks the plates that hold the page. Also here: the limits every
search query carries (`SEARCH_SETTINGS`), and the settings of a page by how many plates it is
fetched from (`page_settings`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, NamedTuple

from platestream.plates import CONFUSABLE_COST, normalise, skeleton

# Must match 013_variant_gaps.sql: skeletons up to this length have deletion variants up to 2 edits.
MAX_VARIANT_LEN = 12
MAX_VARIANT_EDITS = 2
# Past this many plates a pattern is searched without the indexes (LIKE or the edit distance over
# the event index: a scan). 50,000 keeps a suffix wildcard of a city's plates resolvable (at 10M
# bench events `*1071` matches ~17,500 plates, and its scan ran past the 10 s limit), while the
# resolver's answer stays a few MiB.
MAX_RESOLVED = 50_000
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
    # Reading a page's columns after the sort (lazy materialization, on by default since
    # ClickHouse 25.4) pays only when the candidate rows are many times the page: an exact page at
    # 10M events costs 3.4 -> 3.0 ms of endpoint CPU without it. `page_settings` turns it back on
    # for a page fetched from many plates (docs/api.md, "Lazy columns for wide pages only").
    "query_plan_optimize_lazy_materialization": 0,
}
# From this many plates on, a page's candidate rows are many times the page, and reading the
# columns of the page's rows only is cheaper: a 2-edit fuzzy page from 851 plates at 30M events
# 38.7 -> 26.5 ms; from ~100 plates 13.9 -> 12.1 ms; a wildcard's from 51 plates 7.6 -> 8.1 ms.
LAZY_FROM_PLATES = 100
WIDE_PAGE_SETTINGS = {**SEARCH_SETTINGS, "query_plan_optimize_lazy_materialization": 1}


def page_settings(plates: int) -> dict[str, Any]:
    """The settings of a page query fetched from ``plates`` resolved plates (0: not resolved)."""
    return WIDE_PAGE_SETTINGS if plates >= LAZY_FROM_PLATES else SEARCH_SETTINGS


def score_sql(skeleton_column: str) -> str:
    """Tenths of the weighted distance between ``plate`` and the query (as in search_sql.py)."""
    raw = "editDistanceUTF8(plate, {plate:String})"
    sk = f"editDistanceUTF8({skeleton_column}, {{skel:String}})"
    return f"toUInt32(round(10 * ({sk} + {CONFUSABLE_COST} * ({raw} - {sk}))))"


def gapped_variants(text: str, k: int) -> list[tuple[str, int, int]]:
    """(variant, deletions, gaps) of every deletion of at most ``k`` characters of ``text``, as
    migration 013 stores them: ``gaps`` says where the deleted characters sat (the kept characters
    before each): 0 for none, g + 1 for one, (g1 + 1) * 16 + g2 + 1 for two (g1 <= g2)."""
    n = len(text)
    out = {(text, 0, 0)}
    for i in range(n if k >= 1 else 0):
        out.add((text[:i] + text[i + 1 :], 1, i + 1))
        for j in range(i + 1, n if k >= 2 else 0):
            out.add((text[:i] + text[i + 1 : j] + text[j + 1 :], 2, (i + 1) * 16 + j))
    return sorted(out)


def _within(gaps: int) -> list[int]:
    """The gap codes whose deletions are a part of those of ``gaps`` (itself and none included)."""
    if gaps < 16:
        return sorted({0, gaps})
    return sorted({0, gaps // 16, gaps % 16, gaps})


def variant_lookup(skel: str, k: int) -> tuple[list[str], list[tuple[str, int]]]:
    """What the variant index is asked for a skeleton within ``k`` edits: the variants whose every
    stored row within ``k`` deletions may match (fewer than ``k`` deleted on the query's side), and
    exact (variant, gaps) keys for the variants that deleted ``k``.

    Two skeletons within ``k`` edits have an alignment of that cost: the characters it keeps form a
    common variant, and in each gap of it the alignment pays the larger of the two sides' deleted
    counts. A query variant that deleted ``k`` characters can only pair with a stored one whose
    deletions sit in its gaps, no more in any gap than its own (else the cost passes ``k``).
    """
    open_variants: set[str] = set()
    keyed: set[tuple[str, int]] = set()
    for variant, dels, gaps in gapped_variants(skel, k):
        if k > 0 and dels == k:
            keyed.update((variant, g) for g in _within(gaps))
        else:
            open_variants.add(variant)
    return sorted(open_variants), sorted(keyed)


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


class Candidate(NamedTuple):
    """A plate a pattern resolved to: its score (tenths of an edit; 0 for wildcards), the first
    and last time it was read (epoch ms, from the dictionary) and its best confidence
    (thousandths, rounded as a page rounds a row's; the variant index and the dictionaries keep
    it, migrations 015 and 016). A tuple: a resolve builds up to 513 of them per search, in half
    the time of a frozen dataclass."""

    score: int
    first_ms: int
    last_ms: int
    conf_milli: int


# A plate's best confidence in thousandths, rounded as a page rounds a row's (search_sql).
BEST_CONF_SQL = "toInt64(round(max(best_confidence) * 1000))"


def _dictionary_sql(where: str, score: str, verify: str = "1") -> str:
    """(plate, score, first_ms, last_ms, conf_milli) of the dictionary plates matching ``where``,
    with each plate's best confidence (migration 016)."""
    return (
        "SELECT plate, score, first_ms, last_ms, conf_milli FROM (SELECT plate, "
        f"{score} AS score, toUnixTimestamp64Milli(min(first_seen)) AS first_ms, "
        f"toUnixTimestamp64Milli(max(last_seen)) AS last_ms, {BEST_CONF_SQL} AS conf_milli "
        f"FROM plate_dictionary WHERE {where} GROUP BY plate) WHERE {verify}"
    )


def fuzzy_sql(plate: str, max_distance: float, *, times: bool = True) -> tuple[str, dict[str, Any]]:
    """SQL returning (plate, score, first_ms, last_ms, conf_milli) of every plate within
    ``max_distance``.

    Without ``times``, the variant index's answer is the whole answer, with 0 for both times and
    each plate's best confidence, which the variant index keeps (migration 015): no dictionary
    lookup. With them, the dictionary gives the times and the confidence (migration 016).
    """
    params = _fuzzy_params(plate, max_distance)
    k = params["max_edits"]
    verify = (
        f"editDistanceUTF8({SKELETON_SQL}, {{skel:String}}) <= {{max_edits:UInt32}} "
        "AND score <= {max_tenths:UInt32}"
    )
    if k <= MAX_VARIANT_EDITS and len(plate) + k <= MAX_VARIANT_LEN:
        params["variants"], params["keyed"] = variant_lookup(params["skel"], k)
        # verified on the variant table's plates, so only matches are looked up in the dictionary;
        # grouped by plate first: a plate shares several variants with the query, and its edit
        # distances are computed once instead of once per shared variant (2 edits at 10M events:
        # p50 33 -> 27 ms, p90 59 -> 42 ms for the resolve, alternating, the same plates:
        # docs/api.md); with its best confidence, rounded as a page rounds a row's (search_sql)
        matches = (
            f"SELECT plate, score, conf_milli FROM (SELECT plate, {score_sql(SKELETON_SQL)} AS score, "
            f"conf_milli FROM (SELECT plate, {BEST_CONF_SQL} AS conf_milli "
            "FROM plate_variants WHERE (variant IN {variants:Array(String)} AND dels <= {max_edits:UInt32}) "
            "OR (variant, gaps) IN {keyed:Array(Tuple(String, UInt8))} GROUP BY plate)) "
            f"WHERE {verify}"
        )
        if not times:
            return (
                f"SELECT plate, score, 0 AS first_ms, 0 AS last_ms, conf_milli FROM ({matches})",
                params,
            )
        where = f"plate IN (SELECT plate FROM ({matches}))"
    else:  # a plate outside the variant index could match: read the whole dictionary
        params["plate_len"] = len(plate)
        where = "abs(toInt64(lengthUTF8(plate)) - {plate_len:Int64}) <= {max_edits:UInt32}"
    return _dictionary_sql(where, score_sql(SKELETON_SQL), verify), params


def anchors(like: str) -> tuple[str, str]:
    """The literal characters a LIKE pattern starts and ends with: ``AB_12`` -> (``AB``, ``12``)."""
    runs = re.split(r"[%_]", like)
    return runs[0], runs[-1] if len(runs) > 1 else ""


def wildcard_sql(like: str) -> tuple[str, dict[str, Any]]:
    """SQL returning (plate, 0, first_ms, last_ms, conf_milli) of every plate matching the LIKE
    pattern, with each plate's best confidence.

    The longer of the pattern's literal start and end is a key range, of the dictionary (by
    plate) or of the reversed dictionary (by reversed plate), when it has two characters or more
    or the pattern has no 3-gram; otherwise the 3-grams' posting lists find the plates.
    """
    grams = like_grams(like)
    params: dict[str, Any] = {"plate_like": like}
    where = "plate LIKE {plate_like:String}"
    lead, tail = anchors(like)
    if len(tail) > len(lead) and (len(tail) >= 2 or not grams):
        params["reversed_like"] = like[::-1]
        return (
            "SELECT any(plate) AS found, 0 AS score, toUnixTimestamp64Milli(min(first_seen)) AS first_ms, "
            f"toUnixTimestamp64Milli(max(last_seen)) AS last_ms, {BEST_CONF_SQL} AS conf_milli "
            "FROM plate_dictionary_reversed "
            "WHERE plate_reversed LIKE {reversed_like:String} GROUP BY plate_reversed"
        ), params
    if grams and len(lead) < 2:
        params.update(grams=grams, n_grams=len(grams))
        where = (
            "plate IN (SELECT plate FROM plate_grams WHERE gram IN {grams:Array(String)} "
            "GROUP BY plate HAVING uniqExact(gram) = {n_grams:UInt32}) AND " + where
        )
    # without three literal characters: the dictionary by its key prefix, if any, else all of it
    return _dictionary_sql(where, "toUInt32(0)"), params


def time_key(c: Candidate, upper: int | None) -> int:
    """Where a plate's latest row can be in a page sorted by time: its last time, capped at the
    page's upper time bound."""
    return min(c.last_ms, upper) if upper is not None else c.last_ms


@dataclass(frozen=True)
class Top:
    """Ask for the ``n`` plates first in a page's order only (by time: read last, capped at
    ``upper``; by score: best, from ``low_score``), within the page's time window."""

    n: int
    by_score: bool
    since_ms: int | None = None
    until_ms: int | None = None
    upper: int | None = None
    low_score: int = 0

    def wrap(self, sql: str, params: dict[str, Any]) -> str:
        """``sql`` (columns plate, score, first_ms, last_ms, conf_milli) cut to its first n + 1 plates and
        every plate tied with the last of them (at most ``MAX_RESOLVED`` + 1 in all)."""
        where = ["1"]
        if self.since_ms is not None:
            params["top_since"] = self.since_ms
            where.append("last_ms >= {top_since:Int64}")
        if self.until_ms is not None:
            params["top_until"] = self.until_ms
            where.append("first_ms < {top_until:Int64}")
        if self.by_score:
            params["top_low"] = self.low_score
            where.append("score >= {top_low:UInt32}")
            order = "score ASC, conf_milli DESC"
        elif self.upper is not None:
            params["top_upper"] = self.upper
            order = "least(last_ms, {top_upper:Int64}) DESC"
        else:
            order = "last_ms DESC"
        # WITH TIES: the plates that tie at the cut (a score level, when the confidences are not
        # known) come in the same answer, instead of a second resolve of the whole set when they
        # were left out.
        return (
            f"SELECT * FROM (SELECT * FROM ({sql}) WHERE {' AND '.join(where)} "
            f"ORDER BY {order} LIMIT {self.n + 1} WITH TIES) ORDER BY {order} LIMIT {MAX_RESOLVED + 1}"
        )

    def key(self, c: Candidate) -> tuple[int, ...]:
        """The order ``wrap`` sorts by, as a tuple that grows towards the front: (time,) or
        (-score, confidence)."""
        return (-c.score, c.conf_milli) if self.by_score else (time_key(c, self.upper),)


@dataclass(frozen=True)
class Resolved:
    """The plates a pattern resolved to; with a `Top`, ``beyond`` is the best `Top.key` a plate
    left out can have (every listed plate is strictly better), None when every plate is here."""

    found: dict[str, Candidate]
    beyond: tuple[int, ...] | None = None


def resolve(
    client: Any,
    mode: str,
    text: str,
    max_distance: float,
    settings: dict[str, Any],
    *,
    times: bool = True,
    top: Top | None = None,
) -> Resolved | None:
    """plate -> Candidate, or None when the whole set is too large.

    ``text`` is the normalised plate (fuzzy) or the LIKE pattern (wildcard). Without ``times``
    a fuzzy set may come without first/last seen (0): only for a caller that needs neither.
    With ``top``, ClickHouse sorts the set and sends its first plates only (a suffix wildcard of
    a city's plates matches tens of thousands) and those tied with the last of them: the answer
    is a complete prefix of the order, and a plate left out comes strictly after its last plate.
    When the tied plates are too many to send, the first n are kept less those tied with the
    first one left out (a complete prefix too).
    """
    if mode == "fuzzy":
        sql, params = fuzzy_sql(normalise(text), max_distance, times=times)
    elif mode == "wildcard":
        sql, params = wildcard_sql(text)
    else:
        raise ValueError(f"mode {mode!r} needs no resolution")
    sql = top.wrap(sql, params) if top is not None else f"{sql} LIMIT {MAX_RESOLVED + 1}"
    rows = client.query(sql, parameters=params, settings=settings).result_rows
    found = {str(r[0]): Candidate(int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows}
    if top is None:
        return Resolved(found) if len(rows) <= MAX_RESOLVED else None
    if len(rows) <= MAX_RESOLVED:
        if len(rows) <= top.n:
            return Resolved(found)
        last = top.key(found[str(rows[-1][0])])  # rows come in the order, the front first
        return Resolved(found, (*last[:-1], last[-1] - 1))  # integers: one left out is below
    edge = top.key(found[str(rows[min(top.n, len(rows) - 1)][0])])  # the first past those kept
    return Resolved({p: c for p, c in found.items() if top.key(c) > edge}, edge)
