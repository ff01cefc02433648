"""Named licence-plate formats per region: position classes (letter/digit) of normalised plate text.

Shared by detect (format-aware OCR decoding: a slot that expects a digit turns an O into 0) and
enrich (a region guess for a read). A format is a list of patterns over normalised text (upper
case, separators removed) in a small language:

- ``L`` a letter A-Z, ``D`` a digit 0-9, ``A`` either;
- ``[ABC]`` one of the listed characters (``[B-DF]`` ranges work);
- a token may be followed by ``?`` (optional) or ``{n}`` / ``{m,n}`` (repeat).

Patterns are expanded into fixed-length slot sequences (``expand``) because the decoder aligns
one slot per emitted character. Cameras name formats or regions (``formats_for``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
DIGITS = frozenset("0123456789")
ALNUM = LETTERS | DIGITS
MAX_EXPANSIONS = 256

Slot = frozenset[str]


@dataclass(frozen=True)
class PlateFormat:
    """One named format: ``name`` (e.g. ``BR_MERCOSUR``), its region and patterns."""

    name: str
    region: str  # BR | EU | US | GB ... (what a camera's region names)
    patterns: tuple[str, ...]
    description: str = ""
    # Generic formats (any alphanumeric run) decode no confusables; they lose ties to specific ones.
    generic: bool = False
    # log prior (nats) of the format among those decoded together: overlapping shapes (ABC1234
    # is Brazil-old and New York; AB12345 Illinois) are told apart by it when the OCR is unsure.
    prior: float = 0.0
    slots: tuple[tuple[Slot, ...], ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        expanded: list[tuple[Slot, ...]] = []
        for pattern in self.patterns:
            expanded.extend(expand(pattern))
        object.__setattr__(self, "slots", tuple(dict.fromkeys(expanded)))

    @property
    def regex(self) -> re.Pattern[str]:
        return _regex(self.patterns)

    def matches(self, plate: str) -> bool:
        """True when normalised ``plate`` fits one of the patterns."""
        return self.regex.fullmatch(plate) is not None

    @property
    def lengths(self) -> frozenset[int]:
        return frozenset(len(s) for s in self.slots)


_TOKEN = re.compile(r"(\[[^\]]+\]|[LDA])(\?|\{\d+(?:,\d+)?\})?")


def _charset(token: str) -> Slot:
    if token == "L":
        return LETTERS
    if token == "D":
        return DIGITS
    if token == "A":
        return ALNUM
    body = token[1:-1]
    chars: set[str] = set()
    i = 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            chars.update(chr(c) for c in range(ord(body[i]), ord(body[i + 2]) + 1))
            i += 3
        else:
            chars.add(body[i])
            i += 1
    return frozenset(chars)


def _tokens(pattern: str) -> list[tuple[Slot, int, int]]:
    pos = 0
    out: list[tuple[Slot, int, int]] = []
    while pos < len(pattern):
        m = _TOKEN.match(pattern, pos)
        if m is None:
            raise ValueError(f"bad plate pattern {pattern!r} at {pos}")
        rep = m.group(2)
        if rep is None:
            lo = hi = 1
        elif rep == "?":
            lo, hi = 0, 1
        else:
            nums = [int(n) for n in rep[1:-1].split(",")]
            lo, hi = nums[0], nums[-1]
        out.append((_charset(m.group(1)), lo, hi))
        pos = m.end()
    return out


def expand(pattern: str) -> list[tuple[Slot, ...]]:
    """Every fixed-length slot sequence a pattern allows."""
    results: list[tuple[Slot, ...]] = [()]
    for charset, lo, hi in _tokens(pattern):
        results = [r + (charset,) * n for r in results for n in range(lo, hi + 1)]
        if len(results) > MAX_EXPANSIONS:
            raise ValueError(f"plate pattern {pattern!r} expands to too many forms")
    return results


@lru_cache(maxsize=512)
def _regex(patterns: tuple[str, ...]) -> re.Pattern[str]:
    parts = []
    for pattern in patterns:
        rx = []
        for charset, lo, hi in _tokens(pattern):
            cls = "[" + "".join(sorted(charset)) + "]"
            rx.append(cls if (lo, hi) == (1, 1) else f"{cls}{{{lo},{hi}}}")
        parts.append("".join(rx))
    return re.compile("|".join(f"(?:{p})" for p in parts))


# Spanish plates use consonants only; GB's current scheme never uses I, Q (and Z only as a random letter).
_ES = "[BCDFGHJKLMNPRSTVWXYZ]"

FORMATS: tuple[PlateFormat, ...] = (
    PlateFormat("BR_MERCOSUR", "BR", ("LLLDLDD",), "Brazil Mercosur (2018-): ABC1D23"),
    PlateFormat("BR_OLD", "BR", ("LLLDDDD",), "Brazil before Mercosur: ABC-1234"),
    PlateFormat("GB", "GB", ("LLDDLLL",), "Great Britain current (2001-): AB12 CDE"),
    PlateFormat(
        "GB_PREFIX", "GB", ("LD{1,3}LLL",), "Great Britain prefix (1983-2001): A123 BCD", prior=-2.5
    ),
    PlateFormat(
        "DE",
        "EU",
        ("L{1,3}L{1,2}D{1,4}[EH]?",),
        "Germany: district, letters, digits (B AB 1234)",
        prior=-0.5,
    ),
    PlateFormat("FR", "EU", ("LLDDDLL",), "France SIV (2009-): AB-123-CD"),
    PlateFormat("IT", "EU", ("LLDDDLL",), "Italy (1994-): AB 123 CD"),
    PlateFormat("ES", "EU", (f"DDDD{_ES}{{3}}",), "Spain (2000-): 1234 BCD"),
    PlateFormat(
        "NL",
        "EU",
        (
            "LLDDDD",
            "DDLLDD",
            "DDDDLL",
            "LLDDLL",
            "LLLLDD",
            "DDLLLL",
            "DDLLLD",
            "DLLLDD",
            "LLDDDL",
            "LDDDLL",
            "LLLDDL",
            "DLLDDD",
            "DDDLLD",
        ),
        "Netherlands side codes 1-13",
        prior=-1.0,
    ),
    PlateFormat(
        "PL",
        "EU",
        (
            "LLD{5}",
            "LLD{4}L",
            "LLD{3}LL",
            "LLDLD{3}",
            "LLDLLDD",
            "LLLD{4}",
            "LLLD{3}L",
            "LLLDDLL",
            "LLLDLDD",
            "LLLLDDD",
        ),
        "Poland: 2-3 letter county + common serial shapes",
        prior=-1.5,
    ),
    PlateFormat(
        "EU",
        "EU",
        ("L{1,3}D{1,4}L{0,3}", "D{1,4}L{1,3}D{0,3}"),
        "Generic EU letter/digit groups",
        generic=True,
    ),
    PlateFormat("US_CA", "US", ("DLLLDDD",), "California: 1ABC234"),
    PlateFormat("US_NY", "US", ("LLLDDDD",), "New York / Texas / Pennsylvania style: ABC1234"),
    PlateFormat("US_FL", "US", ("LLLLDD", "LLLDLL", "DDDLLL"), "Florida", prior=-1.0),
    PlateFormat("US_IL", "US", ("LLDDDDD", "LDDDDDD"), "Illinois", prior=-1.0),
    PlateFormat("US_NJ", "US", ("LDDLLL", "LLLDDL"), "New Jersey", prior=-1.0),
    PlateFormat(
        "US_LLLDDD",
        "US",
        ("LLLDDD", "DDDLLL", "LLLDDDD"),
        "Common six/seven character US serials",
        prior=-1.0,
    ),
    PlateFormat("US", "US", ("A{2,8}",), "Generic US: 2-8 letters or digits", generic=True),
    PlateFormat("ANY", "ANY", ("A{3,9}",), "Any 3-9 letters or digits", generic=True),
)
BY_NAME: dict[str, PlateFormat] = {f.name: f for f in FORMATS}

# What a camera's region names: its formats, most specific first.
REGIONS: dict[str, tuple[str, ...]] = {
    "BR": ("BR_MERCOSUR", "BR_OLD"),
    "GB": ("GB", "GB_PREFIX"),
    "EU": ("GB", "GB_PREFIX", "DE", "FR", "IT", "ES", "NL", "PL", "EU"),
    "DE": ("DE",),
    "FR": ("FR",),
    "IT": ("IT",),
    "ES": ("ES",),
    "NL": ("NL",),
    "PL": ("PL",),
    "US": ("US_CA", "US_NY", "US_FL", "US_IL", "US_NJ", "US_LLLDDD", "US"),
    "ANY": tuple(f.name for f in FORMATS),
}


def formats_for(names: list[str] | tuple[str, ...] | None) -> tuple[PlateFormat, ...]:
    """Formats for a camera: each name is a format (``BR_OLD``) or a region (``EU``); None: all."""
    if not names:
        names = ("ANY",)
    out: dict[str, PlateFormat] = {}
    for raw in names:
        name = raw.strip().upper()
        if name in REGIONS:
            for fmt_name in REGIONS[name]:
                out[fmt_name] = BY_NAME[fmt_name]
        elif name in BY_NAME:
            out[name] = BY_NAME[name]
        else:
            known = ", ".join(sorted(set(REGIONS) | set(BY_NAME)))
            raise ValueError(f"unknown plate format or region {raw!r}; known: {known}")
    return tuple(out.values())


def match(plate: str, formats: tuple[PlateFormat, ...] = FORMATS) -> list[str]:
    """Names of the formats the normalised plate fits, specific ones first."""
    hits = [f for f in formats if f.matches(plate)]
    hits.sort(key=lambda f: f.generic)
    return [f.name for f in hits]


def guess_region(plate: str) -> str | None:
    """The region of the first specific format the plate fits (``BR``, ``GB``, ``EU``, ``US``), or None.

    Many formats overlap (``ABC1234`` is Brazil-old and New York), so this is a guess: callers
    should prefer the camera's configured region and use this only when none is set.
    """
    for f in FORMATS:
        if not f.generic and f.name != "EU" and f.matches(plate):
            return f.region
    return None
