"""Bounds every stage applies to untrusted text: plate text, camera ids, object keys, regexes."""

from __future__ import annotations

import logging
import re
import unicodedata
from typing import Any

import re2

from platestream.errors import BadInputError

logger = logging.getLogger(__name__)

# Longest plate text after normalisation (no real plate comes near: EU plates are <= 10 characters,
# Chinese plates 8). Everything that builds variants or distances of a plate relies on this cap.
MAX_PLATE_CHARS = 32
# The text as a device sent it may carry separators and spaces ("AB-123 CD").
MAX_PLATE_RAW_CHARS = 2 * MAX_PLATE_CHARS
MAX_CAMERA_ID_CHARS = 64
# The same rule as the API's path parameter: it starts with a letter or digit, so it is never
# "." or "..", and it holds no "/" so it is one object-key segment.
CAMERA_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"  # anchored: pydantic searches
CAMERA_ID = re.compile(CAMERA_ID_PATTERN)
MAX_PATTERN_CHARS = 64
# RE2 compiles a pattern into at most this much memory; larger programs are refused.
REGEX_MAX_MEM = 1 << 20
MAX_OBJECT_KEY_BYTES = 1024

_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.max_mem = REGEX_MAX_MEM
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported by the caller, once


def _has_control(text: str) -> bool:
    # Cc: control characters, Cs: lone surrogates (no encoder takes them), Co: private use.
    return any(unicodedata.category(ch) in ("Cc", "Cs", "Co") for ch in text)


def check_raw_plate(text: str, *, what: str = "plate") -> None:
    """BadInputError for plate text as a device sent it that is too long or holds control characters."""
    if len(text) > MAX_PLATE_RAW_CHARS:
        raise BadInputError(
            f"{what} text of {len(text)} characters exceeds the limit of {MAX_PLATE_RAW_CHARS}"
        )
    if _has_control(text):
        raise BadInputError(f"{what} text holds control or unassigned characters")


def check_plate(plate: str, *, what: str = "plate") -> str:
    """The normalised plate if it is within MAX_PLATE_CHARS of letters and digits, else BadInputError."""
    if len(plate) > MAX_PLATE_CHARS:
        raise BadInputError(
            f"{what} text of {len(plate)} characters exceeds the limit of {MAX_PLATE_CHARS}"
        )
    if not plate.isalnum():
        raise BadInputError(f"{what} text holds characters other than letters and digits")
    return plate


def valid_camera_id(camera_id: Any) -> bool:
    return isinstance(camera_id, str) and CAMERA_ID.fullmatch(camera_id) is not None


def check_camera_id(camera_id: Any, *, what: str = "camera id") -> str:
    """The camera id if it is 1-64 of ``A-Z a-z 0-9 . _ : -`` starting alphanumeric, else BadInputError."""
    if not valid_camera_id(camera_id):
        shown = str(camera_id)[:MAX_CAMERA_ID_CHARS]
        raise BadInputError(
            f"{what} {shown!r} is not 1-{MAX_CAMERA_ID_CHARS} letters, digits, '.', '_', ':' or '-' "
            "starting with a letter or digit"
        )
    return str(camera_id)


def check_object_key(key: str) -> str:
    """The key if an S3 store can take it as is (no empty, '.' or '..' segment), else BadInputError."""
    if not key or len(key.encode("utf-8", "surrogatepass")) > MAX_OBJECT_KEY_BYTES:
        raise BadInputError(f"object key of {len(key)} characters is empty or too long")
    if key.startswith("/") or any(seg in ("", ".", "..") for seg in key.split("/")):
        raise BadInputError(f"object key {key[:120]!r} has an empty, '.' or '..' segment")
    if _has_control(key):
        raise BadInputError(f"object key {key[:120]!r} holds control characters")
    return key


def compile_regex(pattern: str, *, max_chars: int = MAX_PATTERN_CHARS) -> Any:
    """``pattern`` compiled by RE2 (linear-time matching), or BadInputError saying why not.

    RE2 refuses what needs backtracking (backreferences, lookaround) and programs over
    REGEX_MAX_MEM, so no pattern can make matching one plate take more than linear time.
    """
    if len(pattern) > max_chars:
        raise BadInputError(f"regex of {len(pattern)} characters exceeds the limit of {max_chars}")
    try:
        return re2.compile(pattern, _RE2_OPTIONS)
    except re2.error as exc:
        raise BadInputError(f"regex not accepted by RE2 (linear-time engine): {_why(exc)}") from exc


def compile_alternation(patterns: list[str]) -> Any:
    """One RE2 program matching any of ``patterns`` (each already accepted by compile_regex)."""
    options = re2.Options()
    options.max_mem = 64 * REGEX_MAX_MEM
    options.log_errors = False
    try:
        return re2.compile("|".join(f"(?:{p})" for p in patterns), options)
    except re2.error as exc:
        raise BadInputError(f"watchlist patterns too large to combine: {_why(exc)}") from exc


def _why(exc: BaseException) -> str:
    arg = exc.args[0] if exc.args else exc
    return arg.decode("utf-8", "replace") if isinstance(arg, bytes) else str(arg)
