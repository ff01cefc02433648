"""The sink's buffer: decoded records per table, and the offsets they cover, until one flush."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from confluent_kafka import Message

from services.sink.rows import Source, TableMap


def position(msg: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a consumed record (never None for a record without error)."""
    return msg.topic() or "", msg.partition() or 0, msg.offset() or 0


class ObjectWork(Protocol):
    """One object operation of an S3 loop (a put, a tagging) and the record it came from."""

    @property
    def where(self) -> str: ...  # topic[partition]@offset, for logs

    @property
    def msg(self) -> Any: ...  # the consumed record, or None


W = TypeVar("W", bound=ObjectWork)


def dead_letter_refused(
    failed: list[tuple[W, BaseException]], dlq: Any, stats: Any
) -> list[tuple[W, BaseException]]:
    """Dead-letter the records whose object keys the client refused before sending (ValueError,
    TypeError: retrying cannot help), once per record; the rest are the store's failures, to retry."""
    retry: list[tuple[W, BaseException]] = []
    done: set[str] = set()
    for work, exc in failed:
        if not isinstance(exc, ValueError | TypeError) or work.msg is None:
            retry.append((work, exc))
        elif work.where not in done:
            done.add(work.where)
            dlq.record(work.msg, exc)
            stats.dead_lettered += 1
    return retry


@dataclass
class TableBuffer:
    mapping: TableMap
    records: list[dict[str, Any]] = field(default_factory=list)
    sources: list[Source] = field(default_factory=list)
    messages: list[Message] = field(
        default_factory=list
    )  # kept for dead-lettering the original bytes


class Batch:
    """Records waiting for one insert per table; bounded by size and age by the caller."""

    def __init__(self) -> None:
        self.tables: dict[str, TableBuffer] = {}
        self.next_offsets: dict[tuple[str, int], int] = {}  # what to commit once flushed
        self.size = 0
        self.started: float | None = None
        self.rejected: list[tuple[Message, BaseException]] = []  # rows ClickHouse refused

    def add(self, mapping: TableMap, rec: dict[str, Any], msg: Message) -> None:
        buf = self.tables.get(mapping.table)
        if buf is None:
            buf = self.tables[mapping.table] = TableBuffer(mapping)
        topic, partition, offset = position(msg)
        buf.records.append(rec)
        buf.sources.append(Source(topic, partition, offset))
        buf.messages.append(msg)
        self.size += 1
        if self.started is None:
            self.started = time.monotonic()
        key = (topic, partition)
        if offset >= self.next_offsets.get(key, 0):
            self.next_offsets[key] = offset + 1

    def mark(self, msg: Message) -> None:
        """Count an offset as handled (also for records that were dead-lettered, not buffered)."""
        if self.started is None:
            self.started = time.monotonic()
        topic, partition, offset = position(msg)
        key = (topic, partition)
        if offset >= self.next_offsets.get(key, 0):
            self.next_offsets[key] = offset + 1

    def age(self) -> float:
        return 0.0 if self.started is None else time.monotonic() - self.started

    def empty(self) -> bool:
        return not self.next_offsets
