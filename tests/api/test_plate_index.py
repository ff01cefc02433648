"""Plate-set resolution without a server: deletion variants, wildcard grams, the SQL chosen."""

from __future__ import annotations

import itertools
from typing import Any

from services.api import plate_index, plate_pages
from services.api.plate_index import (
    MAX_VARIANT_EDITS,
    MAX_VARIANT_LEN,
    anchors,
    fuzzy_sql,
    gapped_variants,
    like_grams,
    variant_lookup,
    wildcard_sql,
)
from tests.api.search_oracle import levenshtein


def test_gapped_variants_say_where_the_deletions_were() -> None:
    assert gapped_variants("ABC", 1) == [("AB", 1, 3), ("ABC", 0, 0), ("AC", 1, 2), ("BC", 1, 1)]
    # the same variant from two places is two rows; two deletions: (g1 + 1) * 16 + g2 + 1
    assert ("AB", 1, 1) in gapped_variants("AAB", 2) and ("AB", 1, 2) in gapped_variants("AAB", 2)
    assert ("B", 2, 1 * 16 + 1) in gapped_variants("AAB", 2)  # both before the B: gap 0 twice
    assert ("A", 2, 2 * 16 + 2) in gapped_variants("ABC", 2)  # B and C after the A: gap 1 twice
    assert ("B", 2, 1 * 16 + 2) in gapped_variants("ABC", 2)  # A before, C after the B
    assert gapped_variants("粤B1", 0) == [("粤B1", 0, 0)]


def _finds(query: str, stored: str, k: int) -> bool:
    """Whether the lookup for ``query`` within ``k`` edits meets a row the index holds of ``stored``."""
    open_variants, keyed = variant_lookup(query, k)
    return any(
        (variant in open_variants and dels <= k) or (variant, gaps) in keyed
        for variant, dels, gaps in gapped_variants(stored, MAX_VARIANT_EDITS)
    )


def _shares_a_variant(query: str, stored: str, k: int) -> bool:
    """What the index found before it kept the gaps: any variant in common."""
    mine = {variant for variant, _, _ in gapped_variants(query, k)}
    return any(
        variant in mine and dels <= k
        for variant, dels, _ in gapped_variants(stored, MAX_VARIANT_EDITS)
    )


def test_the_variant_lookup_finds_every_string_within_k_edits() -> None:
    """Exhaustive over short strings: nothing within k edits is missed, and the gaps leave out
    pairs the variants alone would have handed over (the edit distances verify the rest)."""
    words = ["".join(p) for n in range(0, 6) for p in itertools.product("AB1", repeat=n)]
    shared, pruned = {1: 0, 2: 0}, {1: 0, 2: 0}
    for a, b in itertools.product(words, repeat=2):
        for k in (1, 2):
            found = _finds(a, b, k)
            if levenshtein(a, b) <= k:
                assert found, (a, b, k)
            elif _shares_a_variant(a, b, k):
                shared[k] += 1
                pruned[k] += not found
    print("farther than k but sharing a variant, and of those left out:", shared, pruned)
    # within one edit the lookup is exact; within two it hands over about a tenth of them
    assert pruned[1] == shared[1] and pruned[2] > shared[2] * 3 // 4, (shared, pruned)
    # the two-edit query D1K1028 no longer meets a plate that only shares 2 of its 7 characters'
    # positions with it after two deletions on each side at other places
    assert not _finds("D1K1028", "11028XY", 2)
    assert _finds("D1K1028", "D1X1028", 2) and _finds("D1K1028", "DXK1Y28", 2)


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
    # the query's own skeleton and its 7 one-deletion variants are open; its 21 two-deletion
    # variants are asked for with the gaps their stored rows may have (none, one of two, both)
    assert "A8C123" in params["variants"] and len(params["variants"]) == 8
    assert ("A8C12", 0) in params["keyed"] and ("A8C12", 6 * 16 + 6) in params["keyed"]
    assert ("A8C12", 6) in params["keyed"] and ("A8C12", 5) not in params["keyed"]
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


class _Rows:
    def __init__(self, rows: list[tuple[str, int, int, int, int]]) -> None:
        self.result_rows = rows


class _Client:
    """Answers one query with rows in the order ClickHouse would sort them."""

    def __init__(self, rows: list[tuple[str, int, int, int, int]]) -> None:
        self.rows, self.sql = rows, ""

    def query(self, sql: str, parameters: Any = None, settings: Any = None) -> _Rows:
        self.sql = sql
        return _Rows(self.rows)


def test_a_top_resolution_keeps_a_complete_prefix_of_the_order() -> None:
    # by time: 2 asked for, so 3 and the plates tied with the 3rd sent (C and D, both last 40);
    # a plate left out was read before 40
    client = _Client(
        [("A", 0, 0, 50, 900), ("B", 0, 0, 45, 900), ("C", 0, 0, 40, 900), ("D", 0, 0, 40, 900)]
    )
    top = plate_index.Top(2, by_score=False, since_ms=5)
    got = plate_index.resolve(client, "wildcard", "%12", 0, {}, top=top)
    assert got is not None and set(got.found) == {"A", "B", "C", "D"} and got.beyond == (39,)
    assert "ORDER BY last_ms DESC LIMIT 3 WITH TIES" in client.sql
    assert "last_ms >= {top_since" in client.sql
    likely = plate_pages.likely_plates(
        got.found, 1, by_score=False, upper=None, low_score=0, beyond=got.beyond
    )
    assert likely is not None and set(likely.plates) == {"A"} and likely.bound == (45,)
    likely = plate_pages.likely_plates(
        got.found, 3, by_score=False, upper=None, low_score=0, beyond=got.beyond
    )
    assert likely is not None and set(likely.plates) == {"A", "B", "C", "D"}
    assert likely.bound == (39,)
    # more plates wanted than the prefix holds: the caller must ask for all of them
    assert (
        plate_pages.likely_plates(
            got.found, 4, by_score=False, upper=None, low_score=0, beyond=got.beyond
        )
        is None
    )
    # by score: a plate left out comes after the last one sent, (10, 0.900): at most 0.899 at 10
    client = _Client([("E", 0, 0, 0, 900), ("A", 4, 0, 0, 900), ("B", 10, 0, 0, 900)])
    got = plate_index.resolve(
        client, "fuzzy", "ABC123", 1, {}, times=False, top=plate_index.Top(2, by_score=True)
    )
    assert got is not None and set(got.found) == {"E", "A", "B"} and got.beyond == (-10, 899)
    likely = plate_pages.likely_plates(
        got.found, 1, by_score=True, upper=None, low_score=0, beyond=got.beyond
    )
    assert likely is not None and set(likely.plates) == {"E"} and likely.bound == (4, -900)
    likely = plate_pages.likely_plates(
        got.found, 2, by_score=True, upper=None, low_score=0, beyond=got.beyond
    )
    assert likely is not None and set(likely.plates) == {"E", "A"} and likely.bound == (10, -900)


def test_a_top_resolution_with_too_many_ties_drops_those_tied_at_the_cut() -> None:
    # a wildcard by score: every plate scores 0, and more tie than a resolve may send
    many = [(f"P{i:06d}", 0, 0, 0, 900) for i in range(plate_index.MAX_RESOLVED + 1)]
    got = plate_index.resolve(
        _Client(many), "wildcard", "%12", 0, {}, top=plate_index.Top(2, by_score=True)
    )
    assert got is not None and got.found == {} and got.beyond == (0, 900)
    # by time: the first n less those tied with the first one left out
    rows = [("A", 0, 0, 90, 900), ("B", 0, 0, 80, 900)] + [
        (f"P{i:06d}", 0, 0, 70, 900) for i in range(plate_index.MAX_RESOLVED - 1)
    ]
    got = plate_index.resolve(
        _Client(rows), "wildcard", "%12", 0, {}, top=plate_index.Top(2, by_score=False)
    )
    assert got is not None and set(got.found) == {"A", "B"} and got.beyond == (70,)
    # fewer plates than asked for: the whole set, no bound
    client = _Client([("A", 0, 0, 50, 900)])
    got = plate_index.resolve(client, "wildcard", "%12", 0, {}, top=plate_index.Top(3, False))
    assert got is not None and set(got.found) == {"A"} and got.beyond is None
