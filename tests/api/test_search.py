"""Search SQL building without a server: plate modes, parameters only, keyset cursors."""

from __future__ import annotations

import re

import pytest

from services.api import plate_index
from services.api.search import _fetch, distinct_versions
from services.api.search_rows import RESULT_COLUMN
from services.api.search_sql import (
    SUPERSEDED,
    EventQuery,
    QueryError,
    build_search,
    decode_cursor,
    encode_cursor,
    wildcard_to_like,
)


def test_wildcard_to_like() -> None:
    assert wildcard_to_like("AB?12*") == "AB_12%"
    assert wildcard_to_like("ab-?1") == "AB_1"
    with pytest.raises(QueryError):
        wildcard_to_like("*?*")


def test_user_values_travel_as_parameters_only() -> None:
    evil = "X' OR 1=1 --"
    sql, params = build_search(
        EventQuery(
            plate=evil,
            cameras=["a'); DROP TABLE x; --"],
            site="s'",
            zone="z",
            direction="d",
            vehicle_type="v",
            vehicle_color="c",
            min_confidence=0.5,
            since_ms=1,
            until_ms=2,
            watchlist_only=True,
        )
    )
    assert "OR 1=1" not in sql and "DROP" not in sql and "s'" not in sql
    assert (
        params["plate"] == "XOR11"
        and params["cameras"] == ["a'); DROP TABLE x; --"]
        and params["site"] == "s'"
    )
    for name in (
        "plate",
        "cameras",
        "site",
        "zone",
        "direction",
        "vehicle_type",
        "vehicle_color",
        "min_conf",
        "since",
        "until",
    ):
        assert "{" + name + ":" in sql
    assert (
        "notEmpty(watchlist_hits)" in sql
        and "FROM plate_event_index WHERE" in sql  # a plate search reads the plate-ordered index
        and "LIMIT 1 BY" not in sql  # copies are dropped in Python (distinct_versions)
    )


@pytest.mark.parametrize(
    ("plate", "mode", "fragment", "param"),
    [
        ("ABC1234", "auto", "plate = {plate:String}", ("plate", "ABC1234")),
        ("AB?1*", "auto", "plate LIKE {plate_like:String}", ("plate_like", "AB_1%")),
        ("ab", "prefix", "plate LIKE {plate_like:String}", ("plate_like", "AB%")),
        ("B0L", "fuzzy", "editDistanceUTF8(plate_skeleton, {skel:String})", ("skel", "801")),
    ],
)
def test_plate_modes(plate: str, mode: str, fragment: str, param: tuple[str, str]) -> None:
    sql, params = build_search(EventQuery(plate=plate, mode=mode))  # type: ignore[arg-type]
    assert fragment in sql and params[param[0]] == param[1]


def test_invalid_queries() -> None:
    for q in (
        EventQuery(plate="--"),
        EventQuery(plate="A%", mode="wildcard"),
        EventQuery(since_ms=5, until_ms=5),
        EventQuery(plate="AB", mode="fuzzy", max_distance=9),
        EventQuery(cursor="!!"),
        EventQuery(cursor=encode_cursor([1, "x", 0]), sort="score"),
        EventQuery(cursor=encode_cursor(["a", "b", 0])),
        EventQuery(cursor=encode_cursor([1, "x", -1])),
        EventQuery(cursor=encode_cursor([2**70, "x", 0])),
    ):
        with pytest.raises(QueryError):
            build_search(q)


def test_cursor_round_trip_and_keyset_condition() -> None:
    c = encode_cursor([1700000000000, "evt-1", 2])
    assert decode_cursor(c, "time") == [1700000000000, "evt-1", 2]
    sql, params = build_search(EventQuery(cursor=c, limit=10))
    assert (
        "(ts, event_id, version) < (fromUnixTimestamp64Milli({c_ts:Int64}, 'UTC'), {c_id:String}, {c_ver:UInt32})"
        in sql
    )
    assert params["limit"] == 11 and params["c_id"] == "evt-1"
    sc = encode_cursor([4, 900, 1700000000000, "evt-2", 0])
    sql, params = build_search(EventQuery(plate="ABC", mode="fuzzy", sort="score", cursor=sc))
    assert (
        params["c_score"] == 4
        and "ORDER BY score ASC, conf_milli DESC, ts DESC, event_id DESC" in sql
    )


def test_split_pieces() -> None:
    from services.api.search_sql import split_pieces

    assert split_pieces("ABC1234", 2) == ["ABC1", "234"]
    assert split_pieces("ABC1234", 3) == ["ABC", "12", "34"]
    assert split_pieces("AB", 3) == []


def test_pigeonhole_prefilter_never_drops_a_match() -> None:
    """Every string within k edits of the query keeps one of the k+1 pieces intact."""
    import random

    from services.api.search_sql import split_pieces

    rng = random.Random(3)
    alphabet = "ABCDEFGH0123456789"
    for _ in range(3000):
        q = "".join(rng.choice(alphabet) for _ in range(rng.randrange(4, 9)))
        cand = list(q)
        k = rng.randrange(0, 3)
        for _e in range(k):
            op, i = rng.randrange(3), rng.randrange(len(cand) + 1)
            if op == 0 and i < len(cand):
                cand[i] = rng.choice(alphabet)
            elif op == 1:
                cand.insert(i, rng.choice(alphabet))
            elif cand and i < len(cand):
                del cand[i]
        c = "".join(cand)  # at most k edits away from q
        pieces = split_pieces(q, k + 1)
        assert pieces and any(p in c for p in pieces), (q, c, k)


def test_distinct_versions_drops_adjacent_copies_only() -> None:
    rows = [
        {"event_id": "a", "version": 1},
        {"event_id": "a", "version": 1},
        {"event_id": "a", "version": 0},
        {"event_id": "b", "version": 0},
        {"event_id": "b", "version": 0},
        {"event_id": "b", "version": 0},
    ]
    assert distinct_versions(rows) == [rows[0], rows[2], rows[3]]
    assert distinct_versions([]) == []


class _Rows:
    """A stand-in for ClickHouse: answers a page query with the first ``LIMIT`` of its rows."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        self.rows, self.limits = rows, []

    def query(self, sql: str, parameters: dict[str, int], settings: object) -> _Rows:
        assert SUPERSEDED in sql and "NOT IN" not in sql  # marked in the page, not filtered
        self.limits.append(parameters["limit"])
        self.page = self.rows[: parameters["limit"]]
        return self

    def named_results(self) -> list[dict[str, object]]:
        return self.page


def test_a_page_short_of_superseded_versions_asks_for_more() -> None:
    rows: list[dict[str, object]] = []
    for i in range(12):  # events 0-5 have a newer version (listed first, as ts sorts them)
        if i < 6:
            rows.append({"event_id": f"e{i}", "version": 1, "superseded": 0})
            rows.append({"event_id": f"e{i}", "version": 0, "superseded": 1})
        else:
            rows.append({"event_id": f"e{i}", "version": 0, "superseded": 0})
    client = _Rows(rows)
    got = _fetch(client, EventQuery(limit=4), 4, None)
    # 5 rows (a page of 4 and one more) hold 3 latest versions: the second ask is twice as large
    assert client.limits == [5, 9]
    assert [(r["event_id"], r["version"]) for r in got] == [(f"e{i}", 1) for i in range(5)]
    client = _Rows(rows[:3])  # the end of the results: no more asks
    assert [r["event_id"] for r in _fetch(client, EventQuery(limit=4), 4, None)] == ["e0", "e1"]
    assert client.limits == [5]


def test_the_result_column_lists_the_fields_in_the_order_of_migration_012() -> None:
    from services.sink.migrations import load_migrations

    sql = next(m.sql for m in load_migrations() if m.version == 12)
    listed = re.search(r"toJSONString\(tuple\(([^)]*)\)\)", sql)
    assert listed is not None
    assert tuple(f.strip() for f in listed.group(1).split(",")) == RESULT_COLUMN


def test_a_page_reads_its_rows_columns_after_the_sort_only_when_fetched_from_many_plates() -> None:
    lazy = "query_plan_optimize_lazy_materialization"
    assert plate_index.page_settings(0)[lazy] == 0  # not resolved: exact, prefix, camera + day
    assert plate_index.page_settings(plate_index.LAZY_FROM_PLATES - 1)[lazy] == 0
    wide = plate_index.page_settings(plate_index.LAZY_FROM_PLATES)
    assert wide[lazy] == 1
    # the server-side limits hold for every page
    assert {k: v for k, v in wide.items() if k != lazy} == {
        k: v for k, v in plate_index.SEARCH_SETTINGS.items() if k != lazy
    }
