"""A puncturable key tree: a key for every subject from one stored secret, and any one of them
destroyed without touching the others.

The subject keys of crypto-shredding (platestream/privacy/shredding.py) are the leaves of a tree
over the 24 hex digits of a subject id (96 bits): a node's key gives its sixteen children's keys
by a keyed hash (BLAKE2s keyed with the node's key, the child's digit as input), so the root
derives every leaf. The tree is stored as its **frontier**: the nodes whose keys are kept, no one
below another. At first that is the root alone. Erasing a subject *punctures* the tree: the node
above the subject's leaf is replaced by the siblings of every node on the path below it (15 per
level), so every other leaf is still derived as before and the erased one is not derivable from
anything kept (the keyed hash is a pseudorandom function: its outputs tell nothing about its
key). This is the GGM construction of a puncturable pseudorandom function.

What it buys: a stage derives a new plate's key in about 24 hashes instead of a round trip to a
key store per plate, and a key store of one small object per tree instead of one per plate. What
it costs: each erasure adds up to 359 nodes (29 bytes each, about 10 KB) to the frontier, which
every stage loads when the tree changes.
"""

from __future__ import annotations

import hashlib
import os
import struct
from dataclasses import dataclass, field

DEPTH = 24  # hex digits of a subject id the tree spans
DIGITS = "0123456789abcdef"
NODE_KEY = 16  # bytes
PERSON = b"ps-tree1"  # BLAKE2s personalisation: these hashes are never confused with others


def child(node_key: bytes, digit: str) -> bytes:
    return hashlib.blake2s(
        digit.encode(), key=node_key, digest_size=NODE_KEY, person=PERSON
    ).digest()


@dataclass
class KeyTree:
    """One tree's frontier: hex prefix -> node key. ``created_ms`` orders trees (newest seals)."""

    created_ms: int
    frontier: dict[str, bytes] = field(default_factory=dict)

    @classmethod
    def new(cls, created_ms: int) -> KeyTree:
        return cls(created_ms, {"": os.urandom(NODE_KEY)})

    def leaf(self, sid: str) -> bytes | None:
        """The key of subject ``sid`` (its first DEPTH hex digits); None when punctured."""
        path = sid[:DEPTH].lower()
        if len(path) != DEPTH:
            return None
        for depth in range(DEPTH + 1):
            node = self.frontier.get(path[:depth])
            if node is not None:
                for digit in path[depth:]:
                    node = child(node, digit)
                return node
        return None

    def puncture(self, sid: str) -> bool:
        """Make ``sid``'s key underivable, every other leaf unchanged; False when it already was."""
        path = sid[:DEPTH].lower()
        if len(path) != DEPTH or any(c not in DIGITS for c in path):
            raise ValueError(f"a subject id is {DEPTH} hex digits or more, not {sid!r}")
        for depth in range(DEPTH + 1):
            node = self.frontier.pop(path[:depth], None)
            if node is not None:
                break
        else:
            return False
        for at in range(depth, DEPTH):
            for digit in DIGITS:
                if digit != path[at]:
                    self.frontier[path[:at] + digit] = child(node, digit)
            node = child(node, path[at])
        return True

    def to_bytes(self) -> bytes:
        """``created_ms`` then each node as (prefix length, prefix, key)."""
        parts = [struct.pack(">Q", self.created_ms)]
        for prefix, key in self.frontier.items():
            parts.append(bytes([len(prefix)]) + prefix.encode("ascii") + key)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyTree:
        if len(data) < 8:
            raise ValueError("a key tree is at least 8 bytes")
        (created_ms,) = struct.unpack(">Q", data[:8])
        frontier: dict[str, bytes] = {}
        at = 8
        while at < len(data):
            n = data[at]
            if n > DEPTH or at + 1 + n + NODE_KEY > len(data):
                raise ValueError(f"a key tree's node at byte {at} is cut short or too deep")
            prefix = data[at + 1 : at + 1 + n].decode("ascii")
            frontier[prefix] = data[at + 1 + n : at + 1 + n + NODE_KEY]
            at += 1 + n + NODE_KEY
        return cls(created_ms, frontier)
