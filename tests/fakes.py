"""A consumed record for unit tests of pure logic: the accessors of `confluent_kafka.Message`
that the stages read (no broker)."""

from __future__ import annotations

from typing import Any


class Record:
    def __init__(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: Any = None,  # bytes; a decoded dict where the test's serde passes it through
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        self._at = (topic, partition, offset)
        self._value, self._key, self._headers = value, key, headers

    def topic(self) -> str:
        return self._at[0]

    def partition(self) -> int:
        return self._at[1]

    def offset(self) -> int:
        return self._at[2]

    def value(self) -> Any:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def error(self) -> None:
        return None
