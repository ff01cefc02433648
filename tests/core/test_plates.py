"""Plate normalisation and the confusable-aware distance."""

from __future__ import annotations

import pytest

from platestream.plates import normalise, plate_distance, skeleton


@pytest.mark.parametrize(
    "raw, expected",
    [
        (" ab-12 cd ", "AB12CD"),
        ("粤MTU952", "粤MTU952"),
        ("abc·1234", "ABC1234"),
        (None, ""),
        ("", ""),
    ],
)
def test_normalise(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "a, b, expected",
    [
        ("ABC1234", "ABC1234", 0.0),
        ("ABC1234", "A8C1234", 0.4),  # B/8 confusable
        ("ABC1234", "ABC123", 1.0),  # one character missing
        ("ABC1234", "XBC1234", 1.0),  # plain substitution
        ("OI", "01", 0.8),
    ],
)
def test_plate_distance(a, b, expected):
    assert plate_distance(a, b) == pytest.approx(expected)


def test_skeleton_folds_confusables():
    assert skeleton("OIB25") == skeleton("01825")
    assert skeleton("ABC") != skeleton("XYZ")
