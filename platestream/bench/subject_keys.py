"""`platestream bench subject-keys`: what crypto-shredding's key trees cost a stage, in CPU.

A stage seals a new plate's records after deriving the plate's key from a key tree
(platestream/privacy/key_tree.py) and building its cipher; a cached plate costs a dict lookup.
Each erasure grows every tree it punctures, which a stage parses whenever a tree changes.
"""

from __future__ import annotations

import os
import statistics
import time
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from platestream.bench.reference import reference_unit_us
from platestream.privacy.key_tree import KeyTree


def _new_plates_us(plates: int) -> float:
    """CPU µs per new plate: the leaf derived and its cipher built, as ``sealing_key`` does."""
    tree = KeyTree.new(0)
    sids = [os.urandom(12).hex() for _ in range(plates)]
    t = time.process_time()
    for sid in sids:
        leaf = tree.leaf(sid)
        assert leaf is not None
        AESGCM(leaf)
    return (time.process_time() - t) / plates * 1e6


def measure(
    plates: int = 20_000, runs: int = 5, erasures: tuple[int, ...] = (1, 10, 100, 1000)
) -> dict[str, Any]:
    """Medians over ``runs``; the tree's size and parse time after each count of ``erasures``."""
    ru = reference_unit_us()
    per_run = [_new_plates_us(plates) for _ in range(runs)]
    tree, done, growth = KeyTree.new(0), 0, []
    for n in sorted(erasures):
        while done < n:
            tree.puncture(os.urandom(12).hex())
            done += 1
        data = tree.to_bytes()
        t = time.perf_counter()
        KeyTree.from_bytes(data)
        growth.append(
            {
                "erasures": n,
                "nodes": len(tree.frontier),
                "bytes": len(data),
                "parse_ms": round((time.perf_counter() - t) * 1e3, 2),
            }
        )
    new_us = statistics.median(per_run)
    return {
        "command": f"platestream bench subject-keys --plates {plates} --runs {runs}",
        "reference_unit_us": round(ru, 2),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "new_plate_us": round(new_us, 2),
        "new_plate_ru": round(new_us / ru, 3),
        "new_plate_us_runs": [round(x, 2) for x in per_run],
        "tree_after_erasures": growth,
    }


def summary_text(result: dict[str, Any]) -> str:
    lines = [
        f"reference unit {result['reference_unit_us']} us CPU; load {result['load_avg_1m']}",
        f"a new plate's key: {result['new_plate_us']} us CPU = {result['new_plate_ru']} ru "
        f"(median; runs {', '.join(str(x) for x in result['new_plate_us_runs'])})",
    ]
    for g in result["tree_after_erasures"]:
        lines.append(
            f"after {g['erasures']:>5} erasures: {g['nodes']:>7} nodes, "
            f"{g['bytes'] / 1024:>8.1f} KiB, parsed in {g['parse_ms']} ms"
        )
    return "\n".join(lines)
