"""Plate text: normalisation and a distance where OCR-confusable characters are cheap.

Used by every stage that compares plates (ingest normalises device reads, enrich merges reads of
one passage and matches watchlists, the API searches fuzzily), so all agree on what "the same
plate" means.
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache

# Pairs OCR mixes up on plates; substituting one for the other costs CONFUSABLE_COST, not 1.
CONFUSABLE_PAIRS = (
    ("O", "0"),
    ("D", "0"),
    ("Q", "0"),
    ("I", "1"),
    ("L", "1"),
    ("T", "1"),
    ("B", "8"),
    ("Z", "2"),
    ("S", "5"),
    ("G", "6"),
    ("A", "4"),
    ("U", "V"),
    ("M", "N"),
    ("K", "X"),
)
CONFUSABLE_COST = 0.4
_CONFUSABLE = {frozenset(p) for p in CONFUSABLE_PAIRS}
# One canonical character per confusable class, for indexing ("skeleton" of a plate).
_SKELETON = str.maketrans(
    {
        "O": "0",
        "D": "0",
        "Q": "0",
        "I": "1",
        "L": "1",
        "T": "1",
        "B": "8",
        "Z": "2",
        "S": "5",
        "G": "6",
    }
)


# Every confusable pair folded to one character. Edits between confusables cost nothing after
# folding, so the folded edit distance is a lower bound of plate_distance: an index or prefilter
# on folded plates misses no true match (used by dedup and the watchlist index).
_FOLD_ALL = str.maketrans(dict(CONFUSABLE_PAIRS))


@lru_cache(maxsize=65536)
def fold(plate: str) -> str:
    """The plate with every confusable pair folded (a superset of ``skeleton``'s folding).

    Cached: dedup folds the same few thousand open plates for every read (0.3 µs a translate,
    0.05 µs a hit)."""
    return plate.translate(_FOLD_ALL)


def normalise(text: str | None) -> str:
    """Upper case, separators and spaces removed; letters of any script (e.g. 粤) are kept."""
    if not text:
        return ""
    text = unicodedata.normalize("NFKC", text).upper()
    return "".join(ch for ch in text if ch.isalnum())


def skeleton(plate: str) -> str:
    """The plate with each confusable class folded to one character (O/0/D/Q -> 0, I/1/L/T -> 1 ...)."""
    return plate.translate(_SKELETON)


def substitution_cost(a: str, b: str) -> float:
    if a == b:
        return 0.0
    return CONFUSABLE_COST if frozenset((a, b)) in _CONFUSABLE else 1.0


@lru_cache(maxsize=65536)
def plate_distance(a: str, b: str) -> float:
    """Weighted Levenshtein distance: insert/delete 1, substitution 1 or CONFUSABLE_COST."""
    if a == b:
        return 0.0
    if not a:
        return float(len(b))
    if not b:
        return float(len(a))
    prev = [float(j) for j in range(len(b) + 1)]
    for i, ca in enumerate(a, 1):
        cur = [float(i)] + [0.0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1.0, cur[j - 1] + 1.0, prev[j - 1] + substitution_cost(ca, cb))
        prev = cur
    return prev[-1]
