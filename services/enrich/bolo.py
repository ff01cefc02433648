"""Watchlists (BOLO and allow lists) held in memory and matched through indexes.

Every enrich process reads the compacted ``anpr.bolo.v1`` topic in full at start and then follows
it, so this module only keeps the current entries and answers "which entries match this plate,
at this camera, at this time". Matching never scans every entry:

- ``exact``: a dict on the normalised plate; BOLO entries also match on the *skeleton* (OCR
  confusables folded: O/0/D/Q, I/1/L/T, B/8, ...), allow entries only on the exact plate, because
  an allow list grants access and must not be widened by OCR look-alikes.
- ``wildcard`` (``*`` any run, ``?`` one character): a dict on the literal prefix before the first
  wildcard; a plate looks up each of its prefixes (at most its length in lookups). Wildcards with
  no literal prefix are kept in a short list and scanned.
- ``regex`` (matched against the whole normalised plate, as if anchored, on RE2: linear time, so
  no pattern can stall the stage; one RE2 refuses is ignored with a logged reason): the same
  prefix dict when the regex starts with literal characters; the rest are scanned (their count is
  logged at load: keep them few).
- ``fuzzy`` (``max_distance``, capped at 2): a symmetric-deletion index (SymSpell) on the plate
  with every confusable class folded; candidates are confirmed with ``plate_distance``.

Candidates for a plate are cached (invalidated on any change), then checked for validity window
and camera/zone scope, which depend on the read. A plate over ``MAX_PLATE_CHARS`` matches nothing
(its fuzzy variants are never built); readers refuse such plates before they get here.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

from platestream.errors import BadInputError
from platestream.limits import (
    MAX_PATTERN_CHARS,
    MAX_PLATE_CHARS,
    compile_alternation,
    compile_regex,
)
from platestream.plates import fold, normalise, skeleton
from services.enrich.voting import within

logger = logging.getLogger(__name__)

MAX_FUZZY_DISTANCE = 2
CACHE_SIZE = 50_000
PRIORITIES = {"low": 0, "medium": 1, "high": 2, "critical": 3}
_REGEX_META = set(".^$*+?{}[]\\|()")


@dataclass(slots=True)
class Entry:
    """One watchlist entry, as held in memory."""

    entry_id: str
    list_id: str
    list_kind: str  # bolo | allow
    pattern: str
    match_type: str  # exact | wildcard | regex | fuzzy
    max_distance: int = 1
    reason: str = ""
    priority: str = "medium"
    camera_ids: frozenset[str] = frozenset()
    zones: frozenset[str] = frozenset()
    valid_from: int | None = None
    valid_until: int | None = None
    owner: str = ""
    key: str = ""  # normalised pattern / literal prefix used by the index
    compiled: Any = field(default=None, repr=False)  # an RE2 program (wildcard, regex)

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Entry:
        match_type = str(rec.get("match_type") or "exact").lower()
        if match_type not in ("exact", "wildcard", "regex", "fuzzy"):
            raise ValueError(f"unknown match_type {match_type!r}")
        kind = str(rec.get("list_kind") or "bolo").lower()
        if kind not in ("bolo", "allow"):
            raise ValueError(f"unknown list_kind {kind!r}")
        pattern = str(rec["pattern"])
        entry = cls(
            entry_id=str(rec["entry_id"]),
            list_id=str(rec.get("list_id") or ""),
            list_kind=kind,
            pattern=pattern,
            match_type=match_type,
            max_distance=max(0, min(int(rec.get("max_distance") or 1), MAX_FUZZY_DISTANCE)),
            reason=str(rec.get("reason") or ""),
            priority=str(rec.get("priority") or "medium"),
            camera_ids=frozenset(rec.get("camera_ids") or ()),
            zones=frozenset(rec.get("zones") or ()),
            valid_from=rec.get("valid_from"),
            valid_until=rec.get("valid_until"),
            owner=str(rec.get("owner") or ""),
        )
        if len(pattern) > MAX_PATTERN_CHARS:
            # The state follower logs a ValueError and skips the record (the entry is ignored).
            raise ValueError(f"pattern of {len(pattern)} characters exceeds {MAX_PATTERN_CHARS}")
        if match_type in ("exact", "fuzzy"):
            entry.key = normalise(pattern)
            if not entry.key:
                raise ValueError("empty plate pattern")
            if len(entry.key) > MAX_PLATE_CHARS:
                raise ValueError(f"plate pattern longer than {MAX_PLATE_CHARS} characters")
        elif match_type == "wildcard":
            upper = pattern.upper()
            body = "".join(ch for ch in upper if ch.isalnum() or ch in "*?")
            entry.key = _literal_prefix_wildcard(body)
            rx = "".join(".*" if ch == "*" else "." if ch == "?" else ch for ch in body)
            entry.compiled = _compiled(rx, max_chars=2 * MAX_PATTERN_CHARS)
        else:
            entry.compiled = _compiled(pattern)
            entry.key = _literal_prefix_regex(pattern)
        return entry

    def active(self, ts: int) -> bool:
        if self.valid_from is not None and ts < self.valid_from:
            return False
        return not (self.valid_until is not None and ts > self.valid_until)

    def in_scope(self, camera_id: str, zone: str | None) -> bool:
        if self.camera_ids and camera_id not in self.camera_ids:
            return False
        return not (self.zones and (zone is None or zone not in self.zones))


def _compiled(pattern: str, *, max_chars: int = MAX_PATTERN_CHARS) -> Any:
    try:
        return compile_regex(pattern, max_chars=max_chars)
    except BadInputError as exc:
        raise ValueError(str(exc)) from exc


def _literal_prefix_wildcard(body: str) -> str:
    out = []
    for ch in body:
        if ch in "*?":
            break
        out.append(ch)
    return "".join(out)


def _literal_prefix_regex(pattern: str) -> str:
    """Leading literal alphanumerics of a regex that every match must start with ('' if unsure)."""
    p = pattern[1:] if pattern.startswith("^") else pattern
    if "|" in p:
        return ""  # an alternation may start differently on each side
    out: list[str] = []
    for i, ch in enumerate(p):
        if ch in _REGEX_META or not ch.isalnum():
            break
        nxt = p[i + 1] if i + 1 < len(p) else ""
        if nxt in ("*", "?", "{"):
            break  # this character may repeat zero times
        out.append(ch)
    return "".join(out)


def deletions(text: str, depth: int) -> set[str]:
    """Every string obtained by deleting up to ``depth`` characters."""
    out = {text}
    n = len(text)
    if depth >= 1:
        one = {text[:i] + text[i + 1 :] for i in range(n)}
        out |= one
        if depth >= 2:
            for t in one:
                out |= {t[:i] + t[i + 1 :] for i in range(len(t))}
        if depth <= 2:
            return out
    for k in range(3, min(depth, n) + 1):
        for idx in combinations(range(n), k):
            drop = set(idx)
            out.add("".join(ch for i, ch in enumerate(text) if i not in drop))
    return out


@dataclass(slots=True)
class Hit:
    entry: Entry
    plate: str


class Watchlists:
    """Current watchlist entries with their indexes."""

    def __init__(self) -> None:
        self.entries: dict[str, Entry] = {}
        self._exact: dict[str, list[Entry]] = {}
        self._skeleton: dict[str, list[Entry]] = {}
        self._prefix: dict[str, list[Entry]] = {}
        self._scan: list[Entry] = []
        self._fuzzy: dict[str, list[Entry]] = {}
        self._fuzzy_depth = 0
        self._cache: dict[str, list[Entry]] = {}
        self._scan_combined: Any = None
        self.version = 0

    def __len__(self) -> int:
        return len(self.entries)

    # --- updates -------------------------------------------------------------------------------
    def upsert(self, entry: Entry) -> None:
        if entry.entry_id in self.entries:
            self._unindex(self.entries[entry.entry_id])
        self.entries[entry.entry_id] = entry
        self._index(entry)
        self._changed()

    def delete(self, entry_id: str) -> bool:
        entry = self.entries.pop(entry_id, None)
        if entry is None:
            return False
        self._unindex(entry)
        self._changed()
        return True

    def apply(self, key: str, record: dict[str, Any] | None) -> None:
        """Apply one record of the compacted topic (None value: tombstone)."""
        if record is None:
            self.delete(key)
        else:
            self.upsert(Entry.from_record(record))

    def load(self, entries: Iterable[Entry]) -> None:
        for e in entries:
            if e.entry_id in self.entries:
                self._unindex(self.entries[e.entry_id])
            self.entries[e.entry_id] = e
            self._index(e)
        self._changed()

    def _changed(self) -> None:
        self._cache.clear()
        self._scan_combined = None
        self.version += 1

    def _scan_rx(self) -> Any:
        """One alternation of every scanned pattern: one C-level pass rejects most plates."""
        if self._scan_combined is None:
            parts = [e.compiled.pattern for e in self._scan if e.compiled is not None]
            try:
                self._scan_combined = compile_alternation(parts)
            except BadInputError as exc:  # too large to combine: every plate checks each one
                logger.warning("%s; scanning the %d patterns one by one", exc, len(parts))
                self._scan_combined = compile_regex(".*")
        return self._scan_combined

    def _buckets(self, e: Entry) -> list[tuple[dict[str, list[Entry]], str]]:
        if e.match_type == "exact":
            out = [(self._exact, e.key)]
            if e.list_kind == "bolo":
                out.append((self._skeleton, skeleton(e.key)))
            return out
        if e.match_type == "fuzzy":
            folded = fold(e.key)
            return [(self._fuzzy, d) for d in deletions(folded, e.max_distance)]
        if e.key:
            return [(self._prefix, e.key)]
        return []

    def _index(self, e: Entry) -> None:
        buckets = self._buckets(e)
        if not buckets:
            self._scan.append(e)
            if len(self._scan) in (100, 1000, 10_000):
                logger.warning(
                    "%d watchlist patterns have no literal prefix and are scanned per plate",
                    len(self._scan),
                )
        for index, k in buckets:
            index.setdefault(k, []).append(e)
        if e.match_type == "fuzzy":
            self._fuzzy_depth = max(self._fuzzy_depth, e.max_distance)

    def _unindex(self, e: Entry) -> None:
        buckets = self._buckets(e)
        if not buckets:
            self._scan = [x for x in self._scan if x.entry_id != e.entry_id]
        for index, k in buckets:
            lst = index.get(k)
            if lst:
                lst[:] = [x for x in lst if x.entry_id != e.entry_id]
                if not lst:
                    del index[k]

    # --- matching ------------------------------------------------------------------------------
    def candidates(self, plate: str) -> list[Entry]:
        """Entries whose pattern matches ``plate`` (normalised), before validity and scope."""
        if len(plate) > MAX_PLATE_CHARS:
            return []  # never build fuzzy variants or prefixes of an over-long plate
        cached = self._cache.get(plate)
        if cached is not None:
            return cached
        found: dict[str, Entry] = {}
        for e in self._exact.get(plate, ()):
            found[e.entry_id] = e
        if self._skeleton:
            for e in self._skeleton.get(skeleton(plate), ()):
                found[e.entry_id] = e
        if self._prefix:
            for i in range(len(plate) + 1):
                for e in self._prefix.get(plate[:i], ()):
                    if e.compiled is not None and self._pattern_matches(e, plate):
                        found[e.entry_id] = e
        if self._scan and self._scan_rx().fullmatch(plate) is not None:
            for e in self._scan:
                if e.compiled is not None and self._pattern_matches(e, plate):
                    found[e.entry_id] = e
        if self._fuzzy:
            folded = fold(plate)
            seen: set[str] = set()
            for k in deletions(folded, self._fuzzy_depth):
                for e in self._fuzzy.get(k, ()):
                    if e.entry_id in seen:
                        continue
                    seen.add(e.entry_id)
                    if within(plate, e.key, e.max_distance) is not None:
                        found[e.entry_id] = e
        result = list(found.values())
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[plate] = result
        return result

    @staticmethod
    def _pattern_matches(e: Entry, plate: str) -> bool:
        assert e.compiled is not None
        return e.compiled.fullmatch(plate) is not None

    def match(self, plate: str, *, ts: int, camera_id: str, zone: str | None) -> list[Entry]:
        """Active, in-scope entries matching ``plate`` at ``camera_id`` at event time ``ts``."""
        if not plate:
            return []
        return [e for e in self.candidates(plate) if e.active(ts) and e.in_scope(camera_id, zone)]


def access_status(hits: Iterable[Entry]) -> str:
    """watchlisted if any BOLO entry matched, else allowed if an allow entry matched, else unknown."""
    status = "unknown"
    for e in hits:
        if e.list_kind == "bolo":
            return "watchlisted"
        status = "allowed"
    return status
