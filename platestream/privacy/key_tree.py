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
every stage that seals or opens with the tree reads again when it changes.

A tree also says how long it lives (platestream/privacy/subject_keys.py): until ``seal_until_ms``
stages seal with it, and from ``expires_ms`` on it is deleted, which shreds every record still
sealed under it (crypto-expiry); 0 in either means never (trees of the first build).
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
V2 = b"\xffps2"  # a tree with its lifetime; the first build's trees begin with created_ms


def child(node_key: bytes, digit: str) -> bytes:
    return hashlib.blake2s(
        digit.encode(), key=node_key, digest_size=NODE_KEY, person=PERSON
    ).digest()


@dataclass
class KeyTree:
    """One tree's frontier: hex prefix -> node key. ``created_ms`` orders trees (newest seals);
    ``keep_ms`` is how long the records it seals are kept (its class: 0, no limit)."""

    created_ms: int
    frontier: dict[str, bytes] = field(default_factory=dict)
    keep_ms: int = 0
    seal_until_ms: int = 0
    expires_ms: int = 0

    @classmethod
    def new(
        cls, created_ms: int, *, keep_ms: int = 0, seal_until_ms: int = 0, expires_ms: int = 0
    ) -> KeyTree:
        return cls(created_ms, {"": os.urandom(NODE_KEY)}, keep_ms, seal_until_ms, expires_ms)

    def seals_at(self, now_ms: int) -> bool:
        return not self.seal_until_ms or now_ms < self.seal_until_ms

    def expired_at(self, now_ms: int) -> bool:
        return bool(self.expires_ms) and now_ms >= self.expires_ms

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
        """The mark, ``created_ms``, ``keep_ms``, ``seal_until_ms``, ``expires_ms``, then each
        node as (prefix length, prefix, key)."""
        times = (self.created_ms, self.keep_ms, self.seal_until_ms, self.expires_ms)
        parts = [V2 + struct.pack(">4Q", *times)]
        for prefix, key in self.frontier.items():
            parts.append(bytes([len(prefix)]) + prefix.encode("ascii") + key)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyTree:
        times, at = (0, 0, 0, 0), 8
        if data.startswith(V2):
            at = len(V2) + 32
            if len(data) < at:
                raise ValueError(f"a key tree is at least {at} bytes")
            times = struct.unpack(">4Q", data[len(V2) : at])
        elif len(data) >= 8:  # the first build: created_ms alone, no end to its life
            times = (struct.unpack(">Q", data[:8])[0], 0, 0, 0)
        else:
            raise ValueError("a key tree is at least 8 bytes")
        frontier: dict[str, bytes] = {}
        while at < len(data):
            n = data[at]
            if n > DEPTH or at + 1 + n + NODE_KEY > len(data):
                raise ValueError(f"a key tree's node at byte {at} is cut short or too deep")
            prefix = data[at + 1 : at + 1 + n].decode("ascii")
            frontier[prefix] = data[at + 1 + n : at + 1 + n + NODE_KEY]
            at += 1 + n + NODE_KEY
        created_ms, keep_ms, seal_until_ms, expires_ms = times
        return cls(created_ms, frontier, keep_ms, seal_until_ms, expires_ms)
