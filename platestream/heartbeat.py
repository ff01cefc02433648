"""Liveness from the consume loops themselves: a stage is alive while its loops keep consuming.

Every consumer that ``platestream.kafka.make_consumer`` builds is a ``HeartbeatConsumer``: once it
subscribes (a stage's main loop; occasional readers assign partitions instead and are not
tracked), each ``poll``/``consume`` call records the time. A loop that deadlocks or hangs in its
processing stops calling them, its heartbeat ages, and the probe (``/health`` and ``/livez`` on the
stage's metrics port, see platestream/probes.py) answers 503, so the orchestrator restarts it.
A paused consumer (backpressure) still polls and still beats.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer


@dataclass
class Beat:
    name: str
    last: float  # time.monotonic() of the last poll/consume
    polls: int = 0


class Heartbeats:
    """The tracked loops of this process."""

    def __init__(self) -> None:
        self._beats: dict[int, Beat] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count()

    def register(self, name: str) -> int:
        key = next(self._ids)
        with self._lock:
            self._beats[key] = Beat(name, time.monotonic())
        return key

    def beat(self, key: int) -> None:
        b = self._beats.get(key)
        if b is not None:
            b.last = time.monotonic()
            b.polls += 1

    def unregister(self, key: int) -> None:
        with self._lock:
            self._beats.pop(key, None)

    def ages(self) -> dict[str, float]:
        """Seconds since each tracked loop last polled (the oldest per name)."""
        now = time.monotonic()
        out: dict[str, float] = {}
        with self._lock:
            for b in self._beats.values():
                out[b.name] = max(out.get(b.name, 0.0), round(now - b.last, 3))
        return out

    def stale(self, max_age_s: float) -> dict[str, float]:
        """The loops that have not polled for longer than ``max_age_s``."""
        return {name: age for name, age in self.ages().items() if age > max_age_s}


HEARTBEATS = Heartbeats()


class HeartbeatConsumer(Consumer):
    """A confluent-kafka Consumer whose subscribed loop beats on every poll/consume."""

    def __init__(self, conf: dict[str, Any], *, heartbeats: Heartbeats = HEARTBEATS) -> None:
        super().__init__(conf)
        self._heartbeats = heartbeats
        self._beat_key: int | None = None
        self._beat_name = str(conf.get("group.id", "consumer"))

    def subscribe(self, topics: list[str], *args: Any, **kwargs: Any) -> None:
        super().subscribe(topics, *args, **kwargs)
        if self._beat_key is None:
            self._beat_key = self._heartbeats.register(self._beat_name)

    def poll(self, *args: Any, **kwargs: Any) -> Any:
        if self._beat_key is not None:
            self._heartbeats.beat(self._beat_key)
        return super().poll(*args, **kwargs)

    def consume(self, *args: Any, **kwargs: Any) -> Any:
        if self._beat_key is not None:
            self._heartbeats.beat(self._beat_key)
        return super().consume(*args, **kwargs)

    def close(self, *args: Any, **kwargs: Any) -> None:
        if self._beat_key is not None:
            self._heartbeats.unregister(self._beat_key)
            self._beat_key = None
        super().close(*args, **kwargs)
