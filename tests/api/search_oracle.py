"""A generated plate-event table and a brute-force search over it, for the search-correctness tests.

The oracle reads every row in Python and applies the documented semantics (docs/api.md, Search):
the latest version of an event wins, filters apply to the version that matched, fuzzy matches are
those whose confusable-folded skeleton is within ceil(max_distance) edits and whose weighted score
is within max_distance, and results come newest first (or by score, confidence, time).
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from functools import lru_cache

from platestream.plates import CONFUSABLE_COST, CONFUSABLE_PAIRS, normalise, skeleton
from services.api.search_sql import EventQuery, wildcard_to_like

DAY_MS = 86_400_000
# Thirty days back from today's midnight (UTC): inside every retention rule of the tables (the
# sink's TTL deletes no-hit passages older than 90 days in background merges, so a fixed date
# once made rows vanish mid-test), and the same all day, so a failure can be re-run.
T0 = (int(time.time() * 1000) // DAY_MS - 30) * DAY_MS
SPAN_MS = 10 * 86_400_000
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZOIQ"
DIGITS = "0123456789"
CAMERAS = [f"cam-{i}" for i in range(12)]
PARTNER = {a: b for a, b in CONFUSABLE_PAIRS} | {b: a for a, b in CONFUSABLE_PAIRS}


@dataclass
class Row:
    event_id: str
    version: int
    camera_id: str
    ts: int
    plate: str
    conf_milli: int
    site: str | None
    zone: str | None
    direction: str | None
    vehicle_type: str | None
    vehicle_color: str | None
    watchlist_hits: list[str] = field(default_factory=list)


def _base_plate(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.55:
        return "".join(rng.choice(LETTERS) for _ in range(3)) + "".join(
            rng.choice(DIGITS) for _ in range(4)
        )
    if kind < 0.8:
        return (
            "".join(rng.choice(LETTERS) for _ in range(2))
            + "".join(rng.choice(DIGITS) for _ in range(2))
            + "".join(rng.choice(LETTERS) for _ in range(3))
        )
    if kind < 0.9:
        return "粤" + rng.choice("ABS") + "".join(rng.choice(DIGITS + "DL") for _ in range(5))
    if kind < 0.96:
        return "".join(rng.choice(LETTERS + DIGITS) for _ in range(rng.randint(4, 6)))
    return "DIPLO" + "".join(rng.choice(DIGITS) for _ in range(rng.randint(8, 9)))


def misread(plate: str, rng: random.Random) -> str:
    """The plate as OCR might read it: a confusable swap, a substitution, a lost or extra character."""
    chars = list(plate)
    i = rng.randrange(len(chars))
    roll = rng.random()
    if roll < 0.6 and any(c in PARTNER for c in chars):
        j = rng.choice([k for k, c in enumerate(chars) if c in PARTNER])
        chars[j] = PARTNER[chars[j]]
    elif roll < 0.8:
        chars[i] = rng.choice(LETTERS + DIGITS)
    elif roll < 0.9 and len(chars) > 2:
        del chars[i]
    else:
        chars.insert(i, rng.choice(LETTERS + DIGITS))
    return "".join(chars)


def generate(n_events: int, seed: int = 11) -> list[Row]:
    """Events with misreads, corrections (new versions, other plate) and duplicate deliveries."""
    rng = random.Random(seed)
    bases = [_base_plate(rng) for _ in range(max(10, n_events // 4))]
    rows: list[Row] = []
    for n in range(n_events):
        base = rng.choice(bases)
        plate = misread(base, rng) if rng.random() < 0.3 else base
        row = Row(
            event_id=f"ev-{n:07d}",
            version=0,
            camera_id=rng.choice(CAMERAS),
            ts=T0 + rng.randrange(SPAN_MS),
            plate=plate,
            conf_milli=rng.randrange(400, 1000),
            site=rng.choice(["north", "south", None]),
            zone=rng.choice(["gate", "lot", None]),
            direction=rng.choice(["approaching", "leaving", None]),
            vehicle_type=rng.choice(["car", "truck", None]),
            vehicle_color=rng.choice(["white", "black", "red", None]),
            watchlist_hits=["stolen"] if rng.random() < 0.03 else [],
        )
        rows.append(row)
        if rng.random() < 0.06:  # corrected: same passage, another plate, a higher version
            fixed = rng.choice([base, misread(base, rng), rng.choice(bases)])
            rows.append(_version(row, 1, fixed, rng))
            if rng.random() < 0.2:
                rows.append(_version(row, 2, rng.choice([plate, base]), rng))
        if rng.random() < 0.02:  # delivered twice (at-least-once)
            rows.append(_version(row, row.version, row.plate, rng, keep=True))
    return rows


def _version(row: Row, version: int, plate: str, rng: random.Random, keep: bool = False) -> Row:
    return Row(
        event_id=row.event_id,
        version=version,
        camera_id=row.camera_id,
        ts=row.ts,
        plate=plate,
        conf_milli=row.conf_milli if keep else rng.randrange(400, 1000),
        site=row.site,
        zone=row.zone,
        direction=row.direction,
        vehicle_type=row.vehicle_type,
        vehicle_color=row.vehicle_color,
        watchlist_hits=list(row.watchlist_hits),
    )


@lru_cache(maxsize=200_000)
def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
        prev = cur
    return prev[-1]


def plate_score(plate: str, q: EventQuery) -> int | None:
    """Tenths of an edit if the plate matches the query's plate criterion, else None."""
    if not q.plate:
        return 0
    mode = q.resolved_mode()
    if mode == "wildcard":
        like = wildcard_to_like(q.plate)
        regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in like)
        return 0 if re.fullmatch(regex, plate, re.DOTALL) else None
    text = normalise(q.plate)
    if mode == "exact":
        return 0 if plate == text else None
    if mode == "prefix":
        return 0 if plate.startswith(text) else None
    sk = levenshtein(skeleton(plate), skeleton(text))
    if sk > int(q.max_distance + 0.999):
        return None
    score = round(10 * (sk + CONFUSABLE_COST * (levenshtein(plate, text) - sk)))
    return score if score <= round(q.max_distance * 10) else None


def _passes_filters(r: Row, q: EventQuery) -> bool:
    if q.cameras and r.camera_id not in q.cameras:
        return False
    for name in ("site", "zone", "direction", "vehicle_type", "vehicle_color"):
        want = getattr(q, name)
        if want and getattr(r, name) != want:
            return False
    if q.since_ms is not None and r.ts < q.since_ms:
        return False
    if q.until_ms is not None and r.ts >= q.until_ms:
        return False
    if q.min_confidence is not None and r.conf_milli < round(q.min_confidence * 1000):
        return False
    return not (q.watchlist_only and not r.watchlist_hits)


def oracle(rows: list[Row], q: EventQuery) -> list[tuple[str, int, float]]:
    """(event_id, version, distance) of every result, in the documented order."""
    latest: dict[str, int] = {}
    for r in rows:
        latest[r.event_id] = max(latest.get(r.event_id, -1), r.version)
    found: dict[tuple[str, int], tuple[int, Row]] = {}
    for r in rows:
        if r.version != latest[r.event_id] or not _passes_filters(r, q):
            continue
        score = plate_score(r.plate, q)
        if score is not None:
            found[(r.event_id, r.version)] = (score, r)
    if q.sort == "time":
        order = sorted(found.values(), key=lambda s: (s[1].ts, s[1].event_id, s[1].version))
    else:
        order = sorted(
            found.values(),
            key=lambda s: (-s[0], s[1].conf_milli, s[1].ts, s[1].event_id, s[1].version),
        )
    return [(r.event_id, r.version, s / 10) for s, r in reversed(order)]
