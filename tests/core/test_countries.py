"""platestream/countries.py: every way devices write a country becomes ISO 3166-1 alpha-2 plus region."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from platestream.countries import alpha2, country_region
from platestream.country_table import COUNTRIES


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("gb", None, ("GB", None)),  # Plate Recognizer: lower-case alpha-2
        ("POL", None, ("PL", None)),  # Axis: alpha-3
        ("CHN", None, ("CN", None)),  # Dahua: alpha-3
        ("us-in", None, ("US", "IN")),  # OpenALPR: country and state in one code
        ("US_CA", None, ("US", "CA")),
        ("GB-ENG", None, ("GB", "ENG")),
        ("eu-pl", None, ("PL", None)),  # a group prefix names no country by itself
        ("Poland", None, ("PL", None)),
        ("  poland ", None, ("PL", None)),
        ("Korea, Republic of", None, ("KR", None)),
        ("Republic of Korea", None, ("KR", None)),
        ("Côte d'Ivoire", None, ("CI", None)),
        ("cote d ivoire", None, ("CI", None)),
        ("UK", None, ("GB", None)),  # distinguishing sign, not ISO
        ("D", None, ("DE", None)),
        ("IRL", None, ("IE", None)),
        ("USA", "in", ("US", "IN")),  # a region sent apart
        ("US", "US-TX", ("US", "TX")),
        ("PL", "", ("PL", None)),
        ("PL", "not a code!", ("PL", None)),
        ("EU", None, (None, None)),
        ("XX", None, (None, None)),
        ("5", None, (None, None)),  # Hikvision's own numeric index is no ISO code
        ("616", None, (None, None)),
        ("", None, (None, None)),
        (None, "IN", (None, None)),
        (True, None, (None, None)),
        ("x" * 10_000, None, (None, None)),
    ],
)
def test_country_region(raw: object, region: object, expected: tuple) -> None:
    assert country_region(raw, region) == expected


def test_table_has_every_code_and_each_maps_to_itself() -> None:
    assert len(COUNTRIES) == 249
    assert len({a2 for a2, _, _ in COUNTRIES}) == 249
    for a2, a3, names in COUNTRIES:
        assert alpha2(a2) == a2 and alpha2(a2.lower()) == a2
        assert alpha2(a3) == a2, a3
        assert alpha2(names[0]) == a2, names[0]


def test_table_matches_the_debian_iso_codes_it_was_generated_from() -> None:
    source = Path("/usr/share/iso-codes/json/iso_3166-1.json")
    if not source.exists():
        pytest.skip("Debian iso-codes is not installed (apt-get install iso-codes)")
    entries = json.loads(source.read_text(encoding="utf-8"))["3166-1"]
    assert {(e["alpha_2"], e["alpha_3"]) for e in entries} == {(a2, a3) for a2, a3, _ in COUNTRIES}
