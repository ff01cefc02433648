"""Passages held back for a larger insert (``PLATESTREAM_SINK_PASSAGES_BATCH_MS``, off by default).

An insert into ``plate_events`` costs ClickHouse about as much for 60 passages as for 600 (eight
views each write a part; docs/benchmarks.md), and a passage is already seconds behind its first
read, so at each flush the ClickHouse loop may keep the passages younger than the setting for the
next batch, with their topics' offsets (committed when they are inserted). Everything else keeps
the ``PLATESTREAM_SINK_BATCH_MS`` flush.
"""

from __future__ import annotations

from services.sink.batch import Batch
from services.sink.rows import TableMap
from services.sink.settings import SinkSettings

HELD_TABLES = frozenset({"plate_events"})


class PassageHold:
    """Which part of a batch being flushed waits for the next one."""

    def __init__(self, settings: SinkSettings, topics: dict[str, TableMap]) -> None:
        on = settings.sink_passages_batch_ms > settings.sink_batch_ms
        self.tables = set(HELD_TABLES) if on else set()
        self.topics = {t: m.table for t, m in topics.items() if m.table in self.tables}
        self.max_age_s = settings.sink_passages_batch_ms / 1000.0
        self.batch_age_s = settings.sink_batch_ms / 1000.0
        self.max_rows = settings.sink_batch_rows
        self._flushes = 0
        self._none_until = 0

    def hold_nothing_next(self, flushes: int) -> None:
        """The next ``flushes`` flushes insert everything (an erasure's settle waits for them)."""
        self._none_until = self._flushes + flushes

    def split(self, batch: Batch) -> Batch:
        """The batch to collect into next: what of ``batch`` waits, or a new one."""
        self._flushes += 1
        if not self.tables or self._flushes <= self._none_until or batch.size >= self.max_rows:
            return Batch()
        return batch.hold_back(self.tables, self.topics, self.max_age_s, self.batch_age_s)
