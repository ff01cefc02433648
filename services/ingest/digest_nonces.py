"""Single-use digest nonces: each (user, nonce, nc) is accepted once, so a captured header is no good.

A device answering a challenge sends ``nc`` (the nonce count, hex); RFC 7616 lets a server require
it to grow. The ledger keeps the highest ``nc`` accepted per (user, nonce) until the nonce expires:
an ``nc`` not above it is a replay (401 with a fresh challenge). A digest without ``qop`` has no
``nc``; it counts as 0, so such a nonce is good for one request.

The ledger is bounded: past ``max_entries`` the oldest entry is dropped and the issue time of its
nonce becomes a floor: every nonce issued at or before the floor is then treated as stale (the
device is challenged again), so dropping an entry never reopens a nonce for replay.

It lives in one ingest process. Replicas behind a load balancer without sticky sessions each
keep their own ledger, but the nonce is signed with a per-process key, so a nonce one replica
issued is refused by the others unless they share ``nonce_key``; where they do, a header may be
used once on each replica (docs/security.md).
"""

from __future__ import annotations

import threading
from collections import OrderedDict

MAX_ENTRIES = 100_000


class NonceLedger:
    """Highest accepted nc per (user, nonce), kept until the nonce's expiry."""

    def __init__(self, *, ttl_s: float, max_entries: int = MAX_ENTRIES) -> None:
        self._ttl = ttl_s
        self._max = max_entries
        self._seen: OrderedDict[tuple[str, str], tuple[int, float]] = OrderedDict()
        self._floor = float("-inf")  # nonces issued at or before this are stale
        self._lock = threading.Lock()
        self.replays = 0
        self.evicted = 0

    def __len__(self) -> int:
        return len(self._seen)

    def below_floor(self, issued_at: float) -> bool:
        """True when this nonce's entry may have been dropped: it must be treated as stale."""
        return issued_at <= self._floor

    def use(self, user: str, nonce: str, nc: int, *, issued_at: float, now: float) -> bool:
        """Record one use; False when ``nc`` is not above the highest seen (a replay)."""
        key = (user, nonce)
        with self._lock:
            self._expire(now)
            if issued_at <= self._floor:
                return False
            seen = self._seen.get(key)
            if seen is not None and nc <= seen[0]:
                self.replays += 1
                return False
            self._seen[key] = (nc, issued_at + self._ttl)
            self._seen.move_to_end(key)
            while len(self._seen) > self._max:
                _old, (_nc, expires) = self._seen.popitem(last=False)
                self._floor = max(self._floor, expires - self._ttl)
                self.evicted += 1
            return True

    def _expire(self, now: float) -> None:
        # entries are touched in use order, not expiry order: scan from the oldest while expired
        while self._seen:
            _key, (_nc, expires) = next(iter(self._seen.items()))
            if expires >= now:
                break
            self._seen.popitem(last=False)
