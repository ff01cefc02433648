"""Token-bucket rate limits per user, API key or client address."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict


class RateLimiter:
    """``rate`` tokens per second up to ``burst``; one request costs one token."""

    def __init__(self, rate: float, burst: int, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = float(burst)
        self._buckets: OrderedDict[str, tuple[float, float]] = (
            OrderedDict()
        )  # key -> (tokens, stamp)
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def take(self, key: str, now: float | None = None) -> float:
        """0.0 if allowed, else the seconds until a token is available (the Retry-After)."""
        t = time.monotonic() if now is None else now
        with self._lock:
            tokens, stamp = self._buckets.pop(key, (self.burst, t))
            tokens = min(self.burst, tokens + (t - stamp) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, t)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, t)
                wait = (1.0 - tokens) / self.rate
            while len(self._buckets) > self._max_keys:  # bounded memory: forget the least recent
                self._buckets.popitem(last=False)
        return wait
