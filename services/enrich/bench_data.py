"""The enrich benchmark's generated input: noisy passages of reads at many cameras, and watchlist
entries of every match type (`platestream bench enrich`, services/enrich/bench.py)."""

from __future__ import annotations

import random
import uuid
from typing import Any

from platestream.plates import CONFUSABLE_PAIRS

LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
DIGITS = "0123456789"
_SWAP = {a: b for a, b in CONFUSABLE_PAIRS} | {b: a for a, b in CONFUSABLE_PAIRS}


def random_plate(rng: random.Random) -> str:
    return "".join(rng.choice(LETTERS) for _ in range(3)) + "".join(
        rng.choice(DIGITS) for _ in range(4)
    )


def noisy(plate: str, rng: random.Random) -> str:
    r = rng.random()
    if r < 0.25:
        i = rng.randrange(len(plate))
        return plate[:i] + _SWAP.get(plate[i], plate[i]) + plate[i + 1 :]
    if r < 0.30:
        i = rng.randrange(len(plate))
        return plate[:i] + plate[i + 1 :]
    return plate


def make_reads(
    n: int, *, cameras: int, t0: int, rng: random.Random, hot: list[str]
) -> list[dict[str, Any]]:
    """``n`` reads: at each camera vehicles pass one after another, 4-8 noisy reads each."""
    out: list[dict[str, Any]] = []
    clock = [t0 + rng.randrange(3000) for _ in range(cameras)]
    while len(out) < n:
        cam = rng.randrange(cameras)
        plate = rng.choice(hot) if hot and rng.random() < 0.01 else random_plate(rng)
        start = clock[cam]
        k = rng.randint(4, 8)
        for j in range(k):
            ts = start + j * 150
            text = noisy(plate, rng)
            out.append(
                {
                    "read_id": str(uuid.UUID(int=rng.getrandbits(128))),
                    "frame_id": f"f{cam}-{ts}",
                    "camera_id": f"cam-{cam:04d}",
                    "ts": ts,
                    "plate": text,
                    "confidence": round(rng.uniform(0.5, 0.99), 3),
                    "plate_box": {"x": 400, "y": 300, "w": 80 + 6 * j, "h": 20 + 2 * j},
                    "crop": {
                        "kind": "plate",
                        "content_type": "image/jpeg",
                        "s3_key": f"crops/cam-{cam:04d}/{ts}-plate.jpg",
                    },
                    "lane": 1,
                    "received_at": ts + 80,
                }
            )
        clock[cam] = start + k * 150 + 3500
    out.sort(key=lambda r: r["ts"])
    return out[:n]


def make_entries(n: int, rng: random.Random) -> tuple[list[dict[str, Any]], list[str]]:
    """``n`` watchlist entries: 70% exact, 10% wildcard, 15% fuzzy, 5% regex (20 without prefix)."""
    entries = []
    hot = []
    for i in range(n):
        plate = random_plate(rng)
        r = i % 20
        if r < 14:
            mt, pattern = "exact", plate
            if i % 100 == 0:
                hot.append(plate)
        elif r < 16:
            mt, pattern = "wildcard", plate[:4] + "*"
        elif r < 19:
            mt, pattern = "fuzzy", plate
        else:
            mt, pattern = "regex", plate[:3] + r"\d{4}"
        entries.append(
            {
                "entry_id": f"e{i}",
                "list_id": f"list{i % 7}",
                "list_kind": "allow" if i % 10 == 9 else "bolo",
                "pattern": pattern,
                "match_type": mt,
                "max_distance": 1,
                "priority": "high",
                "updated_at": 0,
                "reason": "bench",
            }
        )
    for i in range(20):
        entries.append(
            {
                "entry_id": f"rx{i}",
                "list_id": "rx",
                "list_kind": "bolo",
                "pattern": rf"[A-Z]{{2}}Q{i:02d}\d\d",
                "match_type": "regex",
                "updated_at": 0,
            }
        )
    return entries, hot
