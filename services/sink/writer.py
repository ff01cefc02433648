"""Columnar inserts into one projection table, with dedup tokens and bad-row isolation.

An insert either succeeds, raises ``Unavailable`` (ClickHouse unreachable or overloaded: the
caller keeps the batch, pauses and retries), or is refused because of the data: then the batch
is bisected until the rows ClickHouse refuses are alone, and those are returned for the
dead-letter topic while every other row is inserted.
"""

from __future__ import annotations

import hashlib
import logging
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clickhouse_connect.driver.client import Client
from clickhouse_connect.driver.exceptions import DatabaseError, OperationalError

from platestream.errors import SinkError
from services.sink import passthrough
from services.sink.rows import Source, TableMap

logger = logging.getLogger(__name__)

# Server errors that say nothing about the rows: wait and retry instead of bisecting.
TRANSIENT_CODES = frozenset(
    {
        3,
        23,
        24,
        32,
        60,
        81,
        159,
        164,
        202,
        203,
        209,
        210,
        236,
        241,
        242,
        252,
        274,
        279,
        319,
        394,
        425,
        439,
        999,
        1000,
    }
)


# A row the server refused alone is tried again after these pauses before it is dead-lettered.
LONE_ROW_RETRIES_S = (0.5, 2.0)


class Unavailable(SinkError):
    """ClickHouse cannot take the insert now; retry the same batch later."""


@dataclass
class InsertResult:
    inserted: int = 0
    rejected: list[tuple[int, BaseException]] = field(default_factory=list)  # (row index, error)


def dedup_token(table: str, sources: Sequence[Source]) -> str:
    """A token that names exactly these source records: the same batch retried gets the same token."""
    ranges: dict[tuple[str, int], list[int]] = {}
    for s in sources:
        r = ranges.setdefault((s.topic, s.partition), [s.offset, s.offset, 0])
        r[0] = min(r[0], s.offset)
        r[1] = max(r[1], s.offset)
        r[2] += 1
    text = (
        table
        + "|"
        + "|".join(f"{t}:{p}:{a}-{b}:{n}" for (t, p), (a, b, n) in sorted(ranges.items()))
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _error_code(exc: BaseException) -> int | None:
    code = getattr(exc, "code", None)
    if isinstance(code, int):
        return code
    import re

    m = re.search(r"Code:\s*(\d+)", str(exc))
    return int(m.group(1)) if m else None


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, OperationalError | ConnectionError | TimeoutError):
        return True
    if isinstance(exc, DatabaseError):
        code = _error_code(exc)
        return code is None or code in TRANSIENT_CODES
    return False


class TableWriter:
    """Inserts column batches into one table of one database."""

    def __init__(self, *, client: Client, database: str, mapping: TableMap) -> None:
        self.client = client
        self.database = database
        self.mapping = mapping
        self._names: list[str] | None = None
        self._types: list[str] | None = None
        self._fast: dict[int, passthrough.PassThroughInsert | None] = {}  # by schema id

    def fast_path(self, sid: int, writer: dict[str, Any]) -> passthrough.PassThroughInsert | None:
        """The pass-through statement for records of schema id ``sid`` (None: the table or the
        schema has none; built once per id)."""
        if sid not in self._fast:
            try:
                self._ensure_described()
                assert self._names is not None
                self._fast[sid] = passthrough.build(self.mapping.table, writer, self._names)
            except passthrough.Unsupported as exc:
                logger.info(
                    "%s: records of schema %d take the Python path (%s)",
                    self.mapping.table,
                    sid,
                    exc,
                )
                self._fast[sid] = None
        return self._fast[sid]

    def insert_raw(
        self,
        fast: passthrough.PassThroughInsert,
        values: Sequence[bytes],
        sources: Sequence[Source],
        erased: str = "1",
    ) -> bool:
        """Send record bytes for ClickHouse to decode; True when every row went in. False when
        the data failed a check or could not be decoded (nothing written: the caller takes the
        per-record path); Unavailable when the server cannot take it now."""
        end = passthrough.new_end()
        body = fast.body(
            [(s.partition, s.offset, v) for s, v in zip(sources, values, strict=True)], end
        )
        try:
            self.client.command(
                fast.statement(self.database, sources[0].topic, end, erased),
                data=body,
                settings={
                    "insert_deduplication_token": dedup_token(
                        f"{self.mapping.table}:avro", sources
                    ),
                    "insert_deduplicate": 1,
                    "async_insert": 0,
                },
            )
            return True
        except Exception as exc:
            if is_transient(exc):
                raise Unavailable(f"{self.mapping.table}: {exc}") from exc
            logger.log(
                logging.DEBUG if passthrough.CHECK_FAILED in str(exc) else logging.WARNING,
                "%s: %d records go the per-record way (%s)",
                self.mapping.table,
                len(values),
                str(exc)[:300],
            )
            return False

    def _ensure_described(self) -> None:
        try:
            if self._names is None:
                self._describe()
        except Unavailable:
            raise
        except Exception as exc:
            if is_transient(exc):
                raise Unavailable(str(exc)) from exc
            raise

    def _describe(self) -> None:
        rows = self.client.query(
            "SELECT name, type FROM system.columns WHERE database = {db:String} AND table = {t:String} "
            "AND default_kind NOT IN ('MATERIALIZED', 'ALIAS') ORDER BY position",
            parameters={"db": self.database, "t": self.mapping.table},
        ).result_rows
        if not rows:
            raise Unavailable(
                f"table {self.database}.{self.mapping.table} does not exist (run `platestream db migrate`)"
            )
        self._names = [r[0] for r in rows]
        self._types = [r[1] for r in rows]

    def insert(self, recs: Sequence[dict[str, Any]], sources: Sequence[Source]) -> InsertResult:
        """Insert all rows; data errors are isolated by bisection; Unavailable propagates."""
        if not recs:
            return InsertResult()
        self._ensure_described()
        cols = self.mapping.columns(recs, sources)
        result = InsertResult()
        self._insert_range(cols, sources, 0, len(recs), result)
        return result

    def _send(
        self, cols: dict[str, list[Any]], sources: Sequence[Source], lo: int, hi: int
    ) -> None:
        assert self._names is not None and self._types is not None
        names, types = [], []
        data = []
        for name, type_name in zip(self._names, self._types, strict=True):
            col = cols.get(name)
            if col is None:
                continue  # server default (inserted_at)
            names.append(name)
            types.append(type_name)
            data.append(col if lo == 0 and hi == len(col) else col[lo:hi])
        self.client.insert(
            self.mapping.table,
            data,
            column_names=names,
            database=self.database,
            column_type_names=types,
            column_oriented=True,
            settings={
                "insert_deduplication_token": dedup_token(self.mapping.table, sources[lo:hi]),
                "insert_deduplicate": 1,
                "async_insert": 0,
            },
        )

    def _refused_again(self, cols: dict[str, list[Any]], sources: Sequence[Source], i: int) -> bool:
        """A row the server refused alone is sent again before it is dead-lettered: a server that
        failed for its own reasons (stopping, a lost session) must not cost a record. True when it
        is refused every time; Unavailable when the server now says so."""
        for pause_s in LONE_ROW_RETRIES_S:
            time.sleep(pause_s)
            try:
                self._send(cols, sources, i, i + 1)
                logger.warning(
                    "%s: a row refused alone went in when sent again", self.mapping.table
                )
                return False
            except Exception as exc:
                if is_transient(exc):
                    raise Unavailable(f"{self.mapping.table}: {exc}") from exc
        return True

    def _insert_range(
        self,
        cols: dict[str, list[Any]],
        sources: Sequence[Source],
        lo: int,
        hi: int,
        result: InsertResult,
    ) -> None:
        try:
            self._send(cols, sources, lo, hi)
            result.inserted += hi - lo
            return
        except (
            TypeError,
            ValueError,
            OverflowError,
            struct.error,
            KeyError,
            AttributeError,
            IndexError,
        ) as exc:
            error: BaseException = exc  # the client could not encode some row
        except Exception as exc:
            if is_transient(exc):
                raise Unavailable(f"{self.mapping.table}: {exc}") from exc
            error = exc
        if hi - lo == 1:
            if not isinstance(error, DatabaseError) or self._refused_again(cols, sources, lo):
                result.rejected.append((lo, error))
            else:
                result.inserted += 1
            return
        mid = (lo + hi) // 2
        logger.info(
            "%s: insert of %d rows refused (%s); bisecting",
            self.mapping.table,
            hi - lo,
            type(error).__name__,
        )
        self._insert_range(cols, sources, lo, mid, result)
        self._insert_range(cols, sources, mid, hi, result)
