"""Plate formats: pattern expansion, matching, regions and the region guess."""

from __future__ import annotations

import pytest

from platestream.plate_formats import (
    BY_NAME,
    DIGITS,
    LETTERS,
    expand,
    formats_for,
    guess_region,
    match,
)


def test_expand_optional_and_repeat() -> None:
    seqs = expand("L{1,2}D[EH]?")
    assert len(seqs) == 4
    assert (LETTERS, DIGITS) in seqs
    assert (LETTERS, LETTERS, DIGITS, frozenset("EH")) in seqs


def test_char_ranges_and_bad_pattern() -> None:
    (seq,) = expand("[B-DF]")
    assert seq == (frozenset("BCDF"),)
    with pytest.raises(ValueError):
        expand("LX")


@pytest.mark.parametrize(
    ("plate", "fmt"),
    [
        ("ABC1234", "BR_OLD"),
        ("ABC1D23", "BR_MERCOSUR"),
        ("AB12CDE", "GB"),
        ("AB123CD", "FR"),
        ("1234BCD", "ES"),
        ("BAB1234", "DE"),
        ("MAB123E", "DE"),
        ("7ABC123", "US_CA"),
        ("XX99XX", "NL"),
    ],
)
def test_known_plates_match_their_format(plate: str, fmt: str) -> None:
    assert BY_NAME[fmt].matches(plate)
    assert fmt in match(plate)


def test_spanish_plates_have_no_vowels() -> None:
    assert not BY_NAME["ES"].matches("1234ABC")


def test_formats_for_regions_and_names() -> None:
    br = formats_for(["BR"])
    assert [f.name for f in br] == ["BR_MERCOSUR", "BR_OLD"]
    mixed = formats_for(["GB", "US_CA"])
    assert {f.name for f in mixed} == {"GB", "GB_PREFIX", "US_CA"}
    assert len(formats_for(None)) == len(formats_for(["ANY"]))
    with pytest.raises(ValueError, match="unknown plate format"):
        formats_for(["ATLANTIS"])


def test_match_puts_specific_before_generic_and_guess_region() -> None:
    names = match("ABC1D23")
    assert names[0] == "BR_MERCOSUR"
    assert names[-1] in ("US", "ANY")
    assert guess_region("ABC1D23") == "BR"
    assert guess_region("AB12CDE") == "GB"
    assert guess_region("??") is None
