"""Stand-ins for confluent-kafka's Message and Producer, for benchmarks and tests of a processor's
batch logic without a broker (the stage code cannot tell them apart from the real ones)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class InMemoryMessage:
    """The part of confluent_kafka.Message the processors use."""

    _topic: str
    _partition: int
    _offset: int
    _value: bytes
    _key: bytes
    _ts: int = 0  # log append time, ms

    def error(self) -> None:
        return None

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def value(self) -> bytes:
        return self._value

    def key(self) -> bytes:
        return self._key

    def timestamp(self) -> tuple[int, int]:
        return (1, self._ts)

    def headers(self) -> None:
        return None


class CountingProducer:
    """Counts what it is given and acknowledges everything at once."""

    def __init__(self) -> None:
        self.count = 0

    def produce(
        self, topic: str, key: bytes | None = None, value: bytes | None = None, **_: Any
    ) -> None:
        self.count += 1

    def poll(self, _t: float = 0) -> int:
        return 0

    def flush(self, _t: float = 0) -> int:
        return 0
