"""Plate-event search as parameterised ClickHouse SQL: plate modes, filters, keyset cursors.

Every value from the user travels as a query parameter (``{name:Type}``, bound by the server);
the SQL text is assembled only from fixed fragments chosen by the code. A page is a query over
``plate_event_index`` (by plate) or ``plate_events`` (by camera and time) that marks the versions a
correction superseded (``plate_event_superseded_set``, migrations 010 and 014) among the rows it
returns; `services.api.search` runs it.

Fuzzy search scores a candidate by a weighted edit distance computed in SQL: distance between the
confusable-folded skeletons (``platestream.plates.skeleton``, the materialized ``plate_skeleton``
column) plus 0.4 for each substitution that only the folding forgives. For one confusable swap this
equals ``platestream.plates.plate_distance``; pairs outside the skeleton classes count 1.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from platestream.plates import normalise, skeleton
from services.api.plate_index import SKELETON_SQL, score_sql
from services.api.search_rows import COLUMNS, INDEX_COLUMNS

EVENTS_FROM = "plate_events"
# Ordered by (plate, ts): every plate criterion reads only its plates' key ranges (003_search.sql).
INDEX_FROM = "plate_event_index"
# Every version of a row shares its partition (corrections never change camera or time, and the
# partition is the month of ts), so FINAL need not merge across partitions: several times faster.
FAST_FINAL = " SETTINGS do_not_merge_across_partitions_select_final = 1"
PlateMode = Literal["auto", "exact", "prefix", "wildcard", "fuzzy"]
Sort = Literal["time", "score"]

# Corrections are rare: the versions they replaced fit in one set, asked of the page's rows only,
# as a column: ClickHouse computes it after ORDER BY ... LIMIT, where a WHERE condition made it
# read event_id and version of every candidate row (a suffix wildcard's page at 17M events: ~100
# -> ~60 ms). The set is a Set table kept by the sink's view (migration 014; a Merge over
# plate_event_superseded when replicated), so no subquery is planned per page. `_fetch` drops the
# superseded rows and asks for more when that leaves the page short.
SUPERSEDED = "(event_id, version) IN plate_event_superseded_set AS superseded"
_WILDCARD_OK = re.compile(r"^[^\s%_\\]*$")


class QueryError(ValueError):
    """The search parameters are invalid (answered 422 with the reason)."""


@dataclass
class EventQuery:
    """What a caller asked for; times in epoch ms."""

    plate: str | None = None
    mode: PlateMode = "auto"
    max_distance: float = 1.0
    cameras: list[str] = field(default_factory=list)
    site: str | None = None
    zone: str | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    direction: str | None = None
    vehicle_type: str | None = None
    vehicle_color: str | None = None
    min_confidence: float | None = None
    watchlist_only: bool = False
    sort: Sort = "time"
    limit: int = 50
    cursor: str | None = None

    def resolved_mode(self) -> str:
        if self.mode != "auto":
            return self.mode
        if self.plate and ("*" in self.plate or "?" in self.plate):
            return "wildcard"
        return "exact"

    def audit_view(self) -> dict[str, Any]:
        """The query as recorded in the audit log."""
        return {k: v for k, v in self.__dict__.items() if v not in (None, [], False, "")}


def wildcard_to_like(pattern: str) -> str:
    """``AB?12*`` -> ``AB_12%``: ``?`` one character, ``*`` any run; other characters normalised."""
    out = []
    for ch in pattern:
        if ch == "?":
            out.append("_")
        elif ch == "*":
            out.append("%")
        else:
            out.append(normalise(ch))
    like = "".join(out)
    if not like.strip("%_"):
        raise QueryError("a wildcard pattern needs at least one plate character")
    return like


def split_pieces(text: str, n: int) -> list[str]:
    """``text`` cut into ``n`` consecutive pieces of near-equal length; [] if one would be empty."""
    if n <= 0 or len(text) < n:
        return []
    size, extra = divmod(len(text), n)
    out, pos = [], 0
    for i in range(n):
        step = size + (1 if i < extra else 0)
        out.append(text[pos : pos + step])
        pos += step
    return out


def encode_cursor(values: list[Any]) -> str:
    return (
        base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode())
        .decode()
        .rstrip("=")
    )


def decode_cursor(cursor: str, sort: str) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise QueryError("malformed cursor") from exc
    expected = 3 if sort == "time" else 5
    if not isinstance(values, list) or len(values) != expected:
        raise QueryError("cursor does not belong to this sort order")
    numbers = values[:-2] + values[-1:]
    if (
        not isinstance(values[-2], str)
        or not all(
            isinstance(v, int) and not isinstance(v, bool) and -(2**62) < v < 2**62 for v in numbers
        )
        or not 0 <= values[-1] < 2**32
    ):
        raise QueryError("malformed cursor")
    return values


def build_where(
    q: EventQuery, params: dict[str, Any], resolved: dict[str, int] | None = None
) -> tuple[list[str], list[str], str]:
    """PREWHERE and WHERE conditions and the score expression (tenths of an edit; 0 unless fuzzy).

    Cheap selective prefilters go to PREWHERE, so the edit distances are computed only for the
    rows that pass them (ClickHouse does not short-circuit AND for ordinary functions).
    ``resolved`` (plate -> score, from `plate_index.resolve`) replaces a wildcard or fuzzy
    condition by the plate set it resolved to; a fuzzy page computes the scores again from the
    plate, with the resolve's formula (`plate_index.score_sql`).
    """
    prewhere: list[str] = []
    where: list[str] = []
    score = "0"
    if q.plate is not None and q.plate != "":
        mode = q.resolved_mode()
        if mode == "wildcard":
            if not _WILDCARD_OK.match(q.plate):
                raise QueryError("wildcard patterns use ? and * only")
            params["plate_like"] = wildcard_to_like(q.plate)
            if resolved is not None:
                params["plates"] = list(resolved)
                where.append("plate IN {plates:Array(String)}")
            else:
                where.append("plate LIKE {plate_like:String}")
        else:
            plate = normalise(q.plate)
            if not plate:
                raise QueryError("plate has no letters or digits")
            if mode == "exact":
                params["plate"] = plate
                where.append("plate = {plate:String}")
            elif mode == "prefix":
                params["plate_like"] = plate + "%"
                where.append("plate LIKE {plate_like:String}")
            elif mode == "fuzzy":
                if not 0 <= q.max_distance <= 4:
                    raise QueryError("max_distance must be between 0 and 4")
                if resolved is not None:
                    # the score again, from the plate, as the resolve computed it: one array
                    # parameter instead of a second one of the scores (an 848-string array alone
                    # cost 2.3 ms of endpoint CPU; end to end no difference showed through the
                    # noise: docs/api.md, "Search tables in one part")
                    params.update(plates=list(resolved), plate=plate, skel=skeleton(plate))
                    where.append("plate IN {plates:Array(String)}")
                    score = score_sql(SKELETON_SQL)
                    return _filters(q, params, prewhere, where, score)
                params.update(
                    plate=plate,
                    skel=skeleton(plate),
                    plate_len=len(plate),
                    max_edits=int(q.max_distance + 0.999),
                    max_tenths=round(q.max_distance * 10),
                )
                # Pigeonhole prefilter: a skeleton within k edits keeps one of k+1 pieces intact, and
                # a substring test is far cheaper than an edit distance over every row.
                pieces = split_pieces(params["skel"], params["max_edits"] + 1)
                if pieces:
                    for i, piece in enumerate(pieces):
                        params[f"piece{i}"] = piece
                    prewhere.append(
                        "("
                        + " OR ".join(
                            f"position(plate_skeleton, {{piece{i}:String}}) > 0"
                            for i in range(len(pieces))
                        )
                        + ")"
                    )
                sk = "editDistanceUTF8(plate_skeleton, {skel:String})"
                score = score_sql("plate_skeleton")
                prewhere.append(
                    "abs(toInt64(lengthUTF8(plate)) - {plate_len:Int64}) <= {max_edits:UInt32}"
                )
                where.append(f"{sk} <= {{max_edits:UInt32}}")
                where.append(f"{score} <= {{max_tenths:UInt32}}")
            else:
                raise QueryError(f"unknown plate mode {mode!r}")
    return _filters(q, params, prewhere, where, score)


def _filters(
    q: EventQuery, params: dict[str, Any], prewhere: list[str], where: list[str], score: str
) -> tuple[list[str], list[str], str]:
    """The conditions on everything but the plate, added to those on the plate."""
    if q.cameras:
        params["cameras"] = list(q.cameras)
        where.append("camera_id IN {cameras:Array(String)}")
    for name in ("site", "zone", "direction", "vehicle_type", "vehicle_color"):
        value = getattr(q, name)
        if value:
            params[name] = value
            where.append(f"{name} = {{{name}:String}}")
    if q.since_ms is not None:
        params["since"] = q.since_ms
        where.append("ts >= fromUnixTimestamp64Milli({since:Int64}, 'UTC')")
    if q.until_ms is not None:
        params["until"] = q.until_ms
        where.append("ts < fromUnixTimestamp64Milli({until:Int64}, 'UTC')")
    if q.since_ms is not None and q.until_ms is not None and q.until_ms <= q.since_ms:
        raise QueryError("until must be after since")
    if q.min_confidence is not None:
        params["min_conf"] = float(q.min_confidence)
        where.append("confidence >= {min_conf:Float32}")
    if q.watchlist_only:
        where.append("notEmpty(watchlist_hits)")
    return prewhere, where, score


def build_search(
    q: EventQuery, *, limit: int | None = None, resolved: dict[str, int] | None = None
) -> tuple[str, dict[str, Any]]:
    """SQL and parameters for one page of events (``limit + 1`` rows: the extra one says more follow).

    Every matching version is a candidate; the ``superseded`` column marks those a correction
    replaced, and `_fetch` drops them. Copies of one version that unmerged parts still hold are
    dropped by `_fetch` too (``LIMIT 1 BY`` in SQL made ClickHouse sort every matching row with all
    its columns: a camera's day at 10M events took twice as long).
    """
    params: dict[str, Any] = {}
    prewhere, where, score = build_where(q, params, resolved)
    # A fuzzy search the indexes did not resolve still needs plate_skeleton of the event table.
    plate_search = bool(q.plate) and not (q.resolved_mode() == "fuzzy" and resolved is None)
    source = INDEX_FROM if plate_search else EVENTS_FROM
    conf = "toInt64(round(confidence * 1000))"
    key = "(ts, event_id, version) < (fromUnixTimestamp64Milli({c_ts:Int64}, 'UTC'), {c_id:String}, {c_ver:UInt32})"
    if q.cursor:
        c = decode_cursor(q.cursor, q.sort)
        if q.sort == "time":
            params.update(c_ts=c[0], c_id=c[1], c_ver=c[2])
            where.append(key)
        else:
            params.update(c_score=c[0], c_conf=c[1], c_ts=c[2], c_id=c[3], c_ver=c[4])
            where.append(
                f"(({score}) > {{c_score:Int64}} OR (({score}) = {{c_score:Int64}} AND ({conf} < {{c_conf:Int64}} "
                f"OR ({conf} = {{c_conf:Int64}} AND {key}))))"
            )
    order = (
        "ts DESC, event_id DESC, version DESC"
        if q.sort == "time"
        else "score ASC, conf_milli DESC, ts DESC, event_id DESC, version DESC"
    )
    params["limit"] = (limit or q.limit) + 1
    sql = (
        f"SELECT {INDEX_COLUMNS if plate_search else COLUMNS}, {SUPERSEDED}, {score} AS score, "
        f"{conf} AS conf_milli FROM {source}"
        + (" PREWHERE " + " AND ".join(prewhere) if prewhere else "")
        + (" WHERE " + " AND ".join(where) if where else "")
        + f" ORDER BY {order} LIMIT {{limit:UInt32}}"
    )
    return sql, params


def next_cursor(q: EventQuery, last: dict[str, Any]) -> str:
    if q.sort == "time":
        return encode_cursor([int(last["ts_ms"]), last["event_id"], int(last["version"])])
    return encode_cursor(
        [
            int(last["score"]),
            int(last["conf_milli"]),
            int(last["ts_ms"]),
            last["event_id"],
            int(last["version"]),
        ]
    )
