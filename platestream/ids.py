"""Deterministic ids: the same input always gives the same id, so retries and replays deduplicate."""

from __future__ import annotations

import uuid
from hashlib import sha1

NAMESPACE = uuid.UUID("6f1c8d2e-5b7a-4e0c-9a41-0d3c2b1a9e77")
_NAMESPACE_BYTES = NAMESPACE.bytes


def stable_id(*parts: object) -> str:
    """A UUIDv5 over the parts; None parts count as empty.

    The text of ``str(uuid.uuid5(NAMESPACE, text))``, built from the SHA-1 hex digest without the
    UUID object (enrich makes one per passage): version 5 in the 13th hex digit, the RFC 4122
    variant in the top bits of the 17th (tests/core/test_ids.py checks it against uuid5)."""
    text = "\x1f".join(["" if p is None else p if type(p) is str else str(p) for p in parts])
    x = sha1(_NAMESPACE_BYTES + text.encode()).hexdigest()
    variant = "89ab"[int(x[16], 16) & 3]
    return f"{x[:8]}-{x[8:12]}-5{x[13:16]}-{variant}{x[17:20]}-{x[20:32]}"
