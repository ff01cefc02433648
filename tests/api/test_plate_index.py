"""Plate-set resolution without a server: deletion variants, wildcard grams, the SQL chosen."""

from __future__ import annotations

import itertools

from services.api.plate_index import (
    MAX_VARIANT_LEN,
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


def test_wildcard_without_three_literal_characters_reads_the_dictionary() -> None:
    assert "FROM plate_grams" in wildcard_sql("%123")[0]
    sql, params = wildcard_sql("A_1%")
    assert "FROM plate_dictionary" in sql and params == {"plate_like": "A_1%"}
