"""Token-bucket rate limits per user, API key or client address; failure windows per account."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque


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


class FailureWindow:
    """At most ``limit`` failures per key in any ``window_s`` seconds (e.g. failed logins of one
    username from any address); ``blocked`` says how long until the key may try again."""

    def __init__(self, limit: int, window_s: float, *, max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window_s = window_s
        self._fails: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()
        self._max_keys = max_keys

    def _recent(self, key: str, t: float) -> deque[float]:
        stamps = self._fails.get(key) or deque(maxlen=self.limit)
        while stamps and stamps[0] <= t - self.window_s:
            stamps.popleft()
        return stamps

    def blocked(self, key: str, now: float | None = None) -> float:
        """0.0 if the key may try, else the seconds until its oldest failure leaves the window."""
        t = time.monotonic() if now is None else now
        with self._lock:
            stamps = self._recent(key, t)
            if len(stamps) < self.limit:
                return 0.0
            return stamps[0] + self.window_s - t

    def fail(self, key: str, now: float | None = None) -> None:
        t = time.monotonic() if now is None else now
        with self._lock:
            stamps = self._recent(key, t)
            stamps.append(t)
            self._fails.pop(key, None)
            self._fails[key] = stamps
            while len(self._fails) > self._max_keys:  # bounded memory: forget the least recent
                self._fails.popitem(last=False)
