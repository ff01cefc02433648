"""Country codes a consumer can rely on: ISO 3166-1 alpha-2, upper case, state/province apart.

Devices say where a plate is from in many ways: ``gb`` (Plate Recognizer), ``POL`` and ``CHN``
(Axis, Dahua: alpha-3), ``us-in`` (OpenALPR: country and state in one code), ``Poland`` (names),
``D`` or ``UK`` (the distinguishing sign on the plate). ``country_region`` turns each into
``("GB", None)``, ``("PL", None)``, ``("US", "IN")`` ... and anything it does not know into
``(None, None)``: a wrong country is worse than none, and the parsers keep the device's text in the
event's attributes. Numbers are not read as ISO numeric codes: Hikvision sends its own country
index there (``<country>5</country>``), which is no ISO code.

The table of the 249 codes is platestream/country_table.py (generated from Debian iso-codes).
"""

from __future__ import annotations

import re
import unicodedata

from platestream.country_table import COUNTRIES

# Distinguishing signs (Vienna Convention) and other codes vendors send that are not ISO codes.
ALIASES = {
    "UK": "GB",
    "EL": "GR",  # the EU's own code for Greece
    "A": "AT",
    "B": "BE",
    "D": "DE",
    "E": "ES",
    "F": "FR",
    "H": "HU",
    "I": "IT",
    "L": "LU",
    "M": "MT",
    "N": "NO",
    "P": "PT",
    "S": "SE",
    "V": "VA",
    "FL": "LI",
    "IRL": "IE",
    "RSM": "SM",
    "SLO": "SI",
    "GBZ": "GI",
    "GBJ": "JE",
    "GBG": "GG",
    "GBM": "IM",
    "GBA": "GG",
    "ENGLAND": "GB",
    "SCOTLAND": "GB",
    "WALES": "GB",
    "GREAT BRITAIN": "GB",
    "BRITAIN": "GB",
    "NORTHERN IRELAND": "GB",
    "HOLLAND": "NL",
    "RUSSIA": "RU",
    "USA": "US",
    "UNITED STATES OF AMERICA": "US",
    "AMERICA": "US",
    "KOREA": "KR",
    "CZECHIA": "CZ",
    "CZECH REPUBLIC": "CZ",
    "TURKEY": "TR",
    "VIETNAM": "VN",
    "IRAN": "IR",
    "SYRIA": "SY",
    "BOLIVIA": "BO",
    "VENEZUELA": "VE",
    "TANZANIA": "TZ",
    "MOLDOVA": "MD",
    "LAOS": "LA",
    "BRASIL": "BR",
}
# Codes that name a group of countries, not one: the part after them may be the country.
GROUPS = {"EU", "EUR", "EUROPE"}

_ALPHA2 = {a2 for a2, _, _ in COUNTRIES}
_ALPHA3 = {a3: a2 for a2, a3, _ in COUNTRIES}
_SPLIT = re.compile(r"^([A-Za-z]{1,3})[-_ ]([A-Za-z0-9]{1,3})$")
_REGION = re.compile(r"^[A-Z0-9]{1,3}$")
MAX_INPUT = 64


def _name_key(text: str) -> str:
    """A name folded for lookup: no accents, upper case, punctuation as single spaces."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^A-Za-z0-9]+", " ", folded).upper().split())


_NAMES: dict[str, str] = {}
for _a2, _a3, _names in COUNTRIES:
    for _name in _names:
        _NAMES.setdefault(_name_key(_name), _a2)
        # "Korea, Republic of" is also written "Republic of Korea"
        if "," in _name:
            head, tail = (p.strip() for p in _name.split(",", 1))
            _NAMES.setdefault(_name_key(f"{tail} {head}"), _a2)
for _alias, _a2 in ALIASES.items():
    _NAMES.setdefault(_name_key(_alias), _a2)


def alpha2(value: str) -> str | None:
    """The ISO 3166-1 alpha-2 code ``value`` names (a code in any case, an alpha-3 code, a
    distinguishing sign or an English name), or None."""
    key = _name_key(value[:MAX_INPUT])
    if not key:
        return None
    if len(key) == 2 and key in _ALPHA2:
        return key
    if len(key) == 3 and key in _ALPHA3:
        return _ALPHA3[key]
    return _NAMES.get(key)


def country_region(value: object, region: object = None) -> tuple[str | None, str | None]:
    """(ISO alpha-2 country, state/province code) from a device's country field and, where the
    device sends one apart, its region field. ``us-in`` -> ("US", "IN"); ``POL`` -> ("PL", None);
    ``eu-pl`` -> ("PL", None); unknown text -> (None, None)."""
    if value is None or isinstance(value, bool):
        return None, None
    text = str(value).strip()[:MAX_INPUT]
    if not text or text.isdigit():
        return None, None
    country = alpha2(text)
    sub: str | None = None
    if country is None:
        m = _SPLIT.match(text)
        if m:
            head, tail = m.group(1).upper(), m.group(2).upper()
            if head in GROUPS:
                country = alpha2(tail)
            else:
                country = alpha2(head)
                sub = tail if country is not None else None
    if country is None:
        return None, None
    if sub is None and region is not None:
        sub = _region_code(str(region), country)
    return country, sub


def _region_code(text: str, country: str) -> str | None:
    """A region sent apart: ``IN``, ``US-IN`` or ``us_in`` -> ``IN``; None when it is no code."""
    code = text.strip().upper().replace("_", "-")
    if code.startswith(country + "-"):
        code = code[len(country) + 1 :]
    return code if _REGION.match(code) else None
