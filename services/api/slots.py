"""Concurrency caps for heavy work (replays, training exports): so many per user, so many per process.

A route takes a slot before it starts the work and gives it back when the work ends (a replay's
thread finishes, an export's stream is sent or the client goes away). With no slot free the
caller gets 429 with a Retry-After, so one user cannot hold every reader of the API process.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass

from fastapi import HTTPException, status


class Busy(HTTPException):
    """No slot free (for this user, or in this process): a 429 with Retry-After wherever raised."""

    def __init__(self, reason: str, retry_after_s: int) -> None:
        super().__init__(
            status.HTTP_429_TOO_MANY_REQUESTS, reason, headers={"Retry-After": str(retry_after_s)}
        )
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass
class Slot:
    """One unit of running work; ``release`` is idempotent."""

    slots: Slots
    owner: str
    released: bool = False

    def release(self) -> None:
        self.slots._release(self)


class Slots:
    """At most ``per_user`` slots per owner and ``per_process`` in all."""

    def __init__(self, what: str, *, per_user: int, per_process: int, retry_after_s: int) -> None:
        self.what = what
        self.per_user = per_user
        self.per_process = per_process
        self.retry_after_s = retry_after_s
        self._held: Counter[str] = Counter()
        self._lock = threading.Lock()
        self.refused = 0

    def acquire(self, owner: str) -> Slot:
        with self._lock:
            if self._held[owner] >= self.per_user:
                self.refused += 1
                raise Busy(
                    f"{owner} already runs {self._held[owner]} {self.what} (at most "
                    f"{self.per_user} at once); retry when one ends",
                    self.retry_after_s,
                )
            if sum(self._held.values()) >= self.per_process:
                self.refused += 1
                raise Busy(
                    f"this API process runs its {self.per_process} {self.what}; retry later",
                    self.retry_after_s,
                )
            self._held[owner] += 1
        return Slot(self, owner)

    def held(self, owner: str | None = None) -> int:
        with self._lock:
            return sum(self._held.values()) if owner is None else self._held[owner]

    def _release(self, slot: Slot) -> None:
        with self._lock:
            if slot.released:
                return
            slot.released = True
            self._held[slot.owner] -= 1
            if self._held[slot.owner] <= 0:
                del self._held[slot.owner]
