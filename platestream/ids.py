"""Deterministic ids: the same input always gives the same id, so retries and replays deduplicate."""

from __future__ import annotations

import uuid

NAMESPACE = uuid.UUID("6f1c8d2e-5b7a-4e0c-9a41-0d3c2b1a9e77")


def stable_id(*parts: object) -> str:
    """A UUIDv5 over the parts; None parts count as empty."""
    text = "\x1f".join("" if p is None else str(p) for p in parts)
    return str(uuid.uuid5(NAMESPACE, text))
