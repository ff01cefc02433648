"""Failed device logins throttled per address and claimed identity: no guessing at line rate."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

logger = logging.getLogger(__name__)

MAX_FAILURES = 20  # per key and window: far above a device with a typo retrying
WINDOW_S = 60.0
MAX_KEYS = 100_000  # the table's bound: the oldest key is forgotten first


class LoginThrottle:
    """Counts failed logins per key (the ingest app uses client address plus claimed identity) in
    a fixed window; a key over the limit is refused (429) without its credential being checked
    until its window ends. Other identities behind the same address (a NAT, a proxy) go on."""

    def __init__(
        self,
        *,
        max_failures: int = MAX_FAILURES,
        window_s: float = WINDOW_S,
        max_keys: int = MAX_KEYS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.max_keys = max_keys
        self._clock = clock
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()  # key -> (start, n)

    def retry_after(self, key: str) -> float:
        """Seconds until ``key`` may try again; 0 when it may now."""
        with self._lock:
            entry = self._seen.get(key)
            if entry is None:
                return 0.0
            start, failures = entry
            left = start + self.window_s - self._clock()
            if left <= 0:
                del self._seen[key]
                return 0.0
            return left if failures >= self.max_failures else 0.0

    def failed(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            start, failures = self._seen.pop(key, (now, 0))
            if now - start >= self.window_s:
                start, failures = now, 0
            failures += 1
            self._seen[key] = (start, failures)
            if failures == self.max_failures:
                logger.warning(
                    "%d failed device logins as %s within %.0f s: refusing it for the rest of "
                    "the window",
                    failures,
                    key,
                    self.window_s,
                )
            while len(self._seen) > self.max_keys:
                self._seen.popitem(last=False)
