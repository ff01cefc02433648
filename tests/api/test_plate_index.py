"""Plate-set resolution without a server: deletion variants, wildcard grams, the SQL chosen."""

from __future__ import annotations

import itertools
from typing import Any

from services.api import plate_index
from services.api.plate_index import (
    MAX_VARIANT_LEN,
    anchors,
    deletion_variants,
    fuzzy_sql,
    like_grams,
    wildcard_sql,
)
from tests.api.search_oracle import levenshtein


def test_deletion_variants_up_to_k() -> None:
    assert deletion_variants("ABC", 1) == ["AB", "ABC", "AC", "BC"]
    assert deletion_variants("AAB", 2) == ["A", "AA", "AAB", "AB", "B"]
    assert deletion_variants("粤B1", 0) == ["粤B1"]


def test_two_strings_within_k_edits_share_a_deletion_variant() -> None:
    """The SymSpell property the fuzzy index relies on, over every pair of short strings."""
    words = ["".join(p) for n in range(0, 5) for p in itertools.product("AB1", repeat=n)]
    for a, b in itertools.product(words, repeat=2):
        for k in (1, 2):
            if levenshtein(a, b) <= k:
                assert set(deletion_variants(a, k)) & set(deletion_variants(b, k)), (a, b, k)


def test_like_grams_anchor_only_where_the_pattern_is_anchored() -> None:
    assert like_grams("AB_12%") == ["^AB"]
    assert like_grams("%1234") == ["123", "234", "34$"]
    assert like_grams("ABC") == ["ABC", "BC$", "^AB"]
    assert like_grams("%A_B%") == []
    assert like_grams("粤B_12") == ["12$", "^粤B"]


def test_fuzzy_uses_the_variant_index_only_where_it_holds_every_candidate() -> None:
    sql, params = fuzzy_sql("ABC1234", 2)
    assert "FROM plate_variants" in sql
    assert params["skel"] == "A8C1234" and params["max_edits"] == 2
    assert "A8C12" in params["variants"] and len(params["variants"]) == 29
    assert "FROM plate_dictionary" in fuzzy_sql("ABC1234", 3)[0]  # 3 edits: not indexed
    long_query = "A" * (MAX_VARIANT_LEN - 1)
    assert (
        "FROM plate_dictionary" in fuzzy_sql(long_query, 2)[0]
    )  # a 13-character plate could match
    assert "FROM plate_variants" in fuzzy_sql(long_query, 1)[0]
    # a page sorted by score with no time window needs no first/last seen: no dictionary lookup
    untimed = fuzzy_sql("ABC1234", 2, times=False)[0]
    assert "FROM plate_variants" in untimed and "plate_dictionary" not in untimed
    assert "plate_dictionary" in fuzzy_sql("ABC1234", 3, times=False)[0]  # not indexed


def test_wildcard_without_three_literal_characters_reads_the_dictionary() -> None:
    sql, params = wildcard_sql("A_1%")
    assert "FROM plate_dictionary " in sql and params == {"plate_like": "A_1%"}


def test_wildcard_takes_a_key_range_of_its_longer_literal_end() -> None:
    assert anchors("AB_12") == ("AB", "12") and anchors("AB%") == ("AB", "")
    assert anchors("%1234") == ("", "1234") and anchors("ABC") == ("ABC", "")
    for like in ("%123", "A%123", "%1_3", "_BC%1234"):
        sql, params = wildcard_sql(like)
        assert "FROM plate_dictionary_reversed" in sql and "plate_grams" not in sql, like
        assert params["reversed_like"] == like[::-1]
    for like in ("AB_12%", "ABC%1", "AB%"):
        sql, params = wildcard_sql(like)
        assert "FROM plate_dictionary " in sql and "plate_grams" not in sql, like
    for like in ("%ABC%", "A%BCD%", "_1234_"):
        assert "FROM plate_grams" in wildcard_sql(like)[0], like


def test_likely_plates_by_time_take_the_latest_read_plates_with_ties() -> None:
    C = plate_index.Candidate
    found = {
        "A": C(0, 0, 50),
        "B": C(0, 0, 40),
        "C": C(0, 0, 40),
        "D": C(0, 0, 10),
        "E": C(0, 0, 5),
    }
    likely = plate_index.likely_plates(found, 2, by_score=False, upper=None, low_score=0)
    assert likely is not None and set(likely.plates) == {"A", "B", "C"} and likely.bound == 10
    # a page's upper time bound caps every plate's last time: A no longer comes first
    capped = plate_index.likely_plates(found, 1, by_score=False, upper=40, low_score=0)
    assert capped is not None and set(capped.plates) == {"A", "B", "C"} and capped.bound == 10
    assert plate_index.likely_plates(found, 5, by_score=False, upper=None, low_score=0) is None
    rows = [{"ts_ms": 50}, {"ts_ms": 40}, {"ts_ms": 11}]
    assert plate_index.page_is_complete(rows, 3, likely, by_score=False)
    assert not plate_index.page_is_complete(rows[:2], 3, likely, by_score=False)  # too few rows
    rows[2]["ts_ms"] = 10  # a plate left out may hold a row as late: not proven
    assert not plate_index.page_is_complete(rows, 3, likely, by_score=False)


def test_likely_plates_by_score_take_whole_levels_above_the_cursor() -> None:
    C = plate_index.Candidate
    found = {"A": C(4, 0, 0), "B": C(10, 0, 0), "C": C(10, 0, 0), "D": C(14, 0, 0), "E": C(0, 0, 0)}
    likely = plate_index.likely_plates(found, 2, by_score=True, upper=None, low_score=0)
    assert likely is not None and set(likely.plates) == {"E", "A"} and likely.bound == 10
    level = plate_index.likely_plates(found, 2, by_score=True, upper=None, low_score=4)
    assert level is not None and set(level.plates) == {"A", "B", "C"} and level.bound == 14
    assert level.plates == {"A": 4, "B": 10, "C": 10}
    assert plate_index.page_is_complete([{"score": 4}, {"score": 10}], 2, level, by_score=True)
    assert not plate_index.page_is_complete([{"score": 4}], 2, level, by_score=True)


class _Rows:
    def __init__(self, rows: list[tuple[str, int, int, int]]) -> None:
        self.result_rows = rows


class _Client:
    """Answers one query with rows in the order ClickHouse would sort them."""

    def __init__(self, rows: list[tuple[str, int, int, int]]) -> None:
        self.rows, self.sql = rows, ""

    def query(self, sql: str, parameters: Any = None, settings: Any = None) -> _Rows:
        self.sql = sql
        return _Rows(self.rows)


def test_a_top_resolution_keeps_a_complete_prefix_of_the_order() -> None:
    # by time: 2 asked for, so 3 and the plates tied with the 3rd sent (C and D, both last 40);
    # a plate left out was read before 40
    client = _Client([("A", 0, 0, 50), ("B", 0, 0, 45), ("C", 0, 0, 40), ("D", 0, 0, 40)])
    top = plate_index.Top(2, by_score=False, since_ms=5)
    got = plate_index.resolve(client, "wildcard", "%12", 0, {}, top=top)
    assert got is not None and set(got.found) == {"A", "B", "C", "D"} and got.beyond == 39
    assert "ORDER BY last_ms DESC LIMIT 3 WITH TIES" in client.sql
    assert "last_ms >= {top_since" in client.sql
    likely = plate_index.likely_plates(
        got.found, 1, by_score=False, upper=None, low_score=0, beyond=got.beyond
    )
    assert likely is not None and set(likely.plates) == {"A"} and likely.bound == 45
    likely = plate_index.likely_plates(
        got.found, 3, by_score=False, upper=None, low_score=0, beyond=got.beyond
    )
    assert likely is not None and set(likely.plates) == {"A", "B", "C", "D"}
    assert likely.bound == 39
    # more plates wanted than the prefix holds: the caller must ask for all of them
    assert (
        plate_index.likely_plates(
            got.found, 4, by_score=False, upper=None, low_score=0, beyond=got.beyond
        )
        is None
    )
    # by score: a plate left out scores more than the last one sent
    client = _Client([("E", 0, 0, 0), ("A", 4, 0, 0), ("B", 10, 0, 0)])
    got = plate_index.resolve(
        client, "fuzzy", "ABC123", 1, {}, times=False, top=plate_index.Top(2, by_score=True)
    )
    assert got is not None and set(got.found) == {"E", "A", "B"} and got.beyond == -11
    likely = plate_index.likely_plates(
        got.found, 1, by_score=True, upper=None, low_score=0, beyond=got.beyond
    )
    assert likely is not None and set(likely.plates) == {"E"} and likely.bound == 4
    likely = plate_index.likely_plates(
        got.found, 2, by_score=True, upper=None, low_score=0, beyond=got.beyond
    )
    assert likely is not None and set(likely.plates) == {"E", "A"} and likely.bound == 10


def test_a_top_resolution_with_too_many_ties_drops_those_tied_at_the_cut() -> None:
    # a wildcard by score: every plate scores 0, and more tie than a resolve may send
    many = [(f"P{i:06d}", 0, 0, 0) for i in range(plate_index.MAX_RESOLVED + 1)]
    got = plate_index.resolve(
        _Client(many), "wildcard", "%12", 0, {}, top=plate_index.Top(2, by_score=True)
    )
    assert got is not None and got.found == {} and got.beyond == 0
    # by time: the first n less those tied with the first one left out
    rows = [("A", 0, 0, 90), ("B", 0, 0, 80)] + [
        (f"P{i:06d}", 0, 0, 70) for i in range(plate_index.MAX_RESOLVED - 1)
    ]
    got = plate_index.resolve(
        _Client(rows), "wildcard", "%12", 0, {}, top=plate_index.Top(2, by_score=False)
    )
    assert got is not None and set(got.found) == {"A", "B"} and got.beyond == 70
    # fewer plates than asked for: the whole set, no bound
    client = _Client([("A", 0, 0, 50)])
    got = plate_index.resolve(client, "wildcard", "%12", 0, {}, top=plate_index.Top(3, False))
    assert got is not None and set(got.found) == {"A"} and got.beyond is None


def test_within_times_drops_plates_read_only_outside_the_window() -> None:
    C = plate_index.Candidate
    found = {"OLD": C(0, 0, 99), "IN": C(0, 50, 150), "NEW": C(0, 200, 300)}
    assert set(plate_index.within_times(found, 100, 200)) == {"IN"}
    assert set(plate_index.within_times(found, None, None)) == set(found)
