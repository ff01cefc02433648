"""The sink's fast path: record bytes go to ClickHouse as they are, and ClickHouse decodes them.

Decoding Avro in Python was more than half of the sink's CPU (docs/benchmarks.md). For the hot
tables (passages and reads) a batch of records of the current schema is sent as one Avro object
container (``avro_container``) in ``INSERT INTO t (...) SELECT ... FROM input(...) FORMAT Avro``:
ClickHouse decodes the rows, builds the columns the Python mappers build (``rows.py``) and checks
every rule ``TableMap.validate`` checks. Any row that fails a check makes the whole statement fail
(``throwIf``), before anything is written (the insert squashes the batch into one block); the
caller then handles the batch the per-record way, which dead-letters exactly the bad records.

What takes the per-record path from the start: a record of another schema id (an older version,
another type: the Python path resolves or refuses it) and small groups. A record with an inline
image (its object key is computed in Python), or one the erasure ledger may erase (its plate
texts' HMACs are compared with the erased subject ids in the statement, ``erasure_check``),
fails the batch's check, so the batch goes the slow way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from platestream.limits import CAMERA_ID_PATTERN, MAX_PLATE_CHARS, MAX_PLATE_RAW_CHARS
from services.sink import avro_container
from services.sink.erasure_sql import HMAC_OF_P
from services.sink.rows import MAX_TS_MS, MIN_TS_MS, UINT32_MAX

CHECK_FAILED = "platestream pass-through check"  # the throwIf message: not a fault, a fallback

_PRIMITIVES = {
    "string": "String",
    "bytes": "String",
    "int": "Int32",
    "long": "Int64",
    "float": "Float32",
    "double": "Float64",
    "boolean": "Bool",
}


class Unsupported(ValueError):
    """A schema shape the fast path does not map (the table then always takes the Python path)."""


def _fullname(node: dict[str, Any], namespace: str) -> str:
    name = str(node["name"])
    return name if "." in name else f"{node.get('namespace', namespace)}.{name}".lstrip(".")


def clickhouse_type(node: Any, named: dict[str, Any], namespace: str = "") -> str:
    """The ClickHouse type ``input()`` reads an Avro type as (records as named tuples)."""
    if isinstance(node, str):
        if node in _PRIMITIVES:
            return _PRIMITIVES[node]
        ref = named.get(node) or named.get(f"{namespace}.{node}")
        if ref is None:
            raise Unsupported(f"unknown named type {node}")
        return clickhouse_type(ref, named, namespace)
    if isinstance(node, list):
        branches = [b for b in node if b != "null"]
        if len(branches) != 1:
            raise Unsupported(f"union {node}")
        inner = clickhouse_type(branches[0], named, namespace)
        if len(node) == 1 or inner.startswith(("Array(", "Map(")):
            raise Unsupported(f"union {node}")
        return f"Nullable({inner})"
    kind = node["type"]
    if isinstance(kind, list | dict) or kind in _PRIMITIVES:
        return clickhouse_type(kind, named, namespace)
    if kind == "record":
        full = _fullname(node, namespace)
        named[full] = node
        ns = full.rpartition(".")[0]
        fields = ", ".join(
            f"{f['name']} {clickhouse_type(f['type'], named, ns)}" for f in node["fields"]
        )
        return f"Tuple({fields})"
    if kind == "array":
        return f"Array({clickhouse_type(node['items'], named, namespace)})"
    if kind == "fixed":
        named[_fullname(node, namespace)] = node
        return f"FixedString({int(node['size'])})"
    if kind == "enum":
        named[_fullname(node, namespace)] = node
        return "String"
    raise Unsupported(f"Avro type {kind}")


def structure(header: dict[str, Any]) -> str:
    """``input()``'s structure for every field of an envelope schema."""
    named: dict[str, Any] = {}
    ns = str(header.get("namespace", ""))
    return ", ".join(
        f"`{f['name']}` {clickhouse_type(f['type'], named, ns)}" for f in header["fields"]
    )


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _ms(name: str) -> str:
    return f"fromUnixTimestamp64Milli({name}, 'UTC')"


def _box(name: str) -> str:
    parts = ", ".join(f"assumeNotNull(tupleElement({name}, '{c}'))" for c in "xywh")
    return f"if(isNull({name}), CAST([] AS Array(Int32)), [{parts}])"


def _key(ref: str) -> str:
    """The s3_key of an image reference, '' when it has none."""
    return f"ifNull(tupleElement({ref}, 's3_key'), '')"


def _inline_only(ref: str) -> str:
    """An image only carried inline: its key is computed in Python (images.image_key)."""
    return f"({_key(ref)} = '' AND length(ifNull(tupleElement({ref}, 'data'), '')) > 0)"


def _common_checks() -> list[str]:
    return [
        f"ts >= {MIN_TS_MS} AND ts < {MAX_TS_MS}",
        f"match(camera_id, {_quote(CAMERA_ID_PATTERN)})",
        f"lengthUTF8(plate) <= {MAX_PLATE_CHARS}",
    ]


def _text_checks(names: Sequence[str], arrays: Sequence[str]) -> list[str]:
    """One check that every text is valid UTF-8: the texts joined by a newline (an ASCII byte,
    so a sequence cut short in one text cannot be completed by the next) checked once; a
    dozen separate checks cost ClickHouse more to plan than to run on a small batch."""
    parts = [f"ifNull({n}, '')" for n in names] + [f"arrayStringConcat({a}, '\\n')" for a in arrays]
    return [f"isValidUTF8(concatWithSeparator('\\n', {', '.join(parts)}))"]


# What the erasure ledger recognises a record by (platestream/privacy/erasure.py ``_plates``): its
# plate texts, and the id an event erasure names. A read's raw text counts normalised (upper case,
# letters and digits): in SQL only for ASCII text; other raw text makes the check fail, so the
# batch goes to Python, whose ``normalise`` decides.
_RAW_NORMALISED = "upper(replaceRegexpAll(ifNull(plate_raw, ''), '[^A-Za-z0-9]', ''))"
ERASURE_KEYS = {
    "plate_reads": (
        f"arrayConcat([plate, {_RAW_NORMALISED}], arrayMap(c -> tupleElement(c, 'plate'), candidates))",
        "read_id",
        "NOT isValidASCII(ifNull(plate_raw, ''))",
    ),
    "plate_events": ("arrayPushFront(variants, plate)", "event_id", "0"),
}


def erasure_check(
    table: str, subjects: Sequence[str], ids: Sequence[str], pads: tuple[str, str]
) -> str:
    """A condition true when no record of the batch can be one the ledger erases: none of its
    plate texts has an erased subject id, its id is not an erased event's or read's. A superset
    of the ledger's rule (it ignores ``before_ts``): a record it flags only sends the batch to
    the Python path, where the ledger decides exactly."""
    if not subjects and not ids:
        return "1"
    plates, id_field, undecidable = ERASURE_KEYS[table]
    ipad, opad = pads
    hmac = HMAC_OF_P.format(ipad=_quote(ipad), opad=_quote(opad))
    out = [f"NOT ({undecidable})"]
    if subjects:
        out.append(
            f"NOT arrayExists(p -> p != '' AND has([{', '.join(map(_quote, subjects))}], {hmac}), "
            f"{plates})"
        )
    if ids:
        out.append(f"NOT has([{', '.join(map(_quote, ids))}], {id_field})")
    return " AND ".join(f"({c})" for c in out)


def _reads() -> tuple[dict[str, str], list[str]]:
    cols = {
        n: n
        for n in (
            "read_id",
            "frame_id",
            "camera_id",
            "plate",
            "plate_raw",
            "confidence",
            "char_confidences",
            "plate_format",
            "detection_confidence",
            "vehicle_type",
            "direction",
            "lane",
            "detector",
            "inference_ms",
        )
    }
    cols |= {
        "ts": _ms("ts"),
        "candidate_plates": "arrayMap(c -> tupleElement(c, 'plate'), candidates)",
        "candidate_confidences": "arrayMap(c -> tupleElement(c, 'confidence'), candidates)",
        "plate_box": _box("plate_box"),
        "vehicle_box": _box("vehicle_box"),
        "crop_key": f"if(isNull(crop) OR {_key('crop')} = '', NULL, {_key('crop')})",
        "received_at": _ms("received_at"),
    }
    checks = [
        *_common_checks(),
        f"lengthUTF8(ifNull(plate_raw, '')) <= {MAX_PLATE_RAW_CHARS}",
        f"NOT (isNotNull(crop) AND {_inline_only('crop')})",
        *_text_checks(
            (
                "read_id",
                "frame_id",
                "plate",
                "plate_raw",
                "plate_format",
                "vehicle_type",
                "direction",
                "detector",
                "tupleElement(crop, 's3_key')",
            ),
            ("arrayMap(c -> tupleElement(c, 'plate'), candidates)",),
        ),
    ]
    return cols, checks


_EVENT_PLAIN = (
    "event_id",
    "camera_id",
    "plate",
    "confidence",
    "plate_format",
    "country",
    "region",
    "lane",
    "read_count",
    "variants",
    "read_ids",
    "best_read_id",
    "source",
    "direction",
    "vehicle_type",
    "vehicle_color",
    "vehicle_make",
    "vehicle_model",
    "camera_name",
    "site",
    "zone",
    "lat",
    "lon",
    "heading",
    "watchlist_hits",
    "correction_id",
    "version",
)
_EVENT_TEXT = (
    "event_id",
    "plate",
    "plate_format",
    "country",
    "region",
    "best_read_id",
    "source",
    "direction",
    "vehicle_type",
    "vehicle_color",
    "vehicle_make",
    "vehicle_model",
    "camera_name",
    "site",
    "zone",
    "access_status",
    "correction_id",
)


def _events() -> tuple[dict[str, str], list[str]]:
    # rows.py: the best crop's slot, then the images' slots; a reference with neither a key nor
    # inline bytes has no slot; the best crop key is the first slot's when there is a best crop.
    images = f"arrayFilter(i -> {_key('i')} != '', images)"
    best = f"isNotNull(best_crop) AND {_key('best_crop')} != ''"
    keys = (
        f"arrayConcat(if({best}, [{_key('best_crop')}], CAST([] AS Array(String))), "
        f"arrayMap(i -> {_key('i')}, {images}))"
    )
    kind = "if(tupleElement({r}, 'kind') = '', 'image', tupleElement({r}, 'kind'))"
    kinds = (
        f"arrayConcat(if({best}, [{kind.format(r='best_crop')}], CAST([] AS Array(String))), "
        f"arrayMap(i -> {kind.format(r='i')}, {images}))"
    )
    cols = {n: n for n in _EVENT_PLAIN}
    cols |= {
        "ts": _ms("ts"),
        "first_seen": _ms("first_seen"),
        "last_seen": _ms("last_seen"),
        "received_at": _ms("received_at"),
        "emitted_at": _ms("emitted_at"),
        "access_status": "if(access_status = '', 'unknown', access_status)",
        "image_keys": keys,
        "image_kinds": kinds,
        "best_crop_key": f"if(isNotNull(best_crop) AND notEmpty({keys}), {keys}[1], NULL)",
    }
    checks = [
        *_common_checks(),
        f"version >= 0 AND version <= {UINT32_MAX}",
        f"read_count >= 0 AND read_count <= {UINT32_MAX}",
        f"NOT (isNotNull(best_crop) AND {_inline_only('best_crop')})",
        f"NOT arrayExists(i -> {_inline_only('i')}, images)",
        *_text_checks(
            _EVENT_TEXT,
            (
                "variants",
                "read_ids",
                "watchlist_hits",
                "arrayMap(i -> ifNull(tupleElement(i, 's3_key'), ''), images)",
                "arrayMap(i -> tupleElement(i, 'kind'), images)",
            ),
        ),
        "isValidUTF8(ifNull(tupleElement(best_crop, 's3_key'), ''))",
        "isValidUTF8(ifNull(tupleElement(best_crop, 'kind'), ''))",
    ]
    return cols, checks


SERVER_DEFAULTS = frozenset({"inserted_at"})  # columns neither path sends

SHAPES: dict[str, Callable[[], tuple[dict[str, str], list[str]]]] = {
    "plate_reads": _reads,
    "plate_events": _events,
}


@dataclass(frozen=True)
class PassThroughInsert:
    """One table's statement for one writer schema."""

    table: str
    header: dict[str, Any]  # the container's schema (envelope of the writer's)
    columns: tuple[str, ...]
    select: str  # SELECT ... FROM input(...) WHERE <checks>, with {topic} and {end} to fill

    def statement(self, database: str, topic: str, end: bytes, erased: str = "1") -> str:
        """``erased``: the erasure ledger's check (``erasure_check``), "1" when it is empty."""
        cols = ", ".join(f"`{c}`" for c in self.columns)
        select = (
            self.select.replace("{topic}", _quote(topic))
            .replace("{end}", end.hex())
            .replace("{erased}", erased)
        )
        return f"INSERT INTO `{database}`.`{self.table}` ({cols}) {select} FORMAT Avro"

    def body(self, rows: Sequence[tuple[int, int, bytes]], end: bytes) -> bytes:
        return avro_container.container(
            self.header, [avro_container.row(p, o, v, end) for p, o, v in rows]
        )


def build(table: str, writer: dict[str, Any], stored: Sequence[str]) -> PassThroughInsert:
    """The statement for ``table`` from the writer schema; ``stored`` are the table's insertable
    columns (a column the shape does not build keeps its default). Unsupported when the table or
    the schema has no fast path."""
    shape = SHAPES.get(table)
    if shape is None:
        raise Unsupported(f"no pass-through for {table}")
    exprs, checks = shape()
    exprs = {**exprs, "topic": "{topic}", "partition": "_partition", "offset": "_offset"}
    stored = [c for c in stored if c not in SERVER_DEFAULTS]
    missing = [c for c in stored if c not in exprs]
    if missing:
        raise Unsupported(f"{table}: the fast path builds no {missing}")
    header = avro_container.envelope(writer)
    checks = ["_end = unhex('{end}')", "{erased}", *checks]
    where = " AND ".join(f"({c})" for c in checks)
    select = (
        "SELECT "
        # positional; aliases that name no input field, so the checks read the record's values
        + ", ".join(f"{exprs[c]} AS `out_{i}`" for i, c in enumerate(stored))
        + f" FROM input({_quote(structure(header))}) WHERE throwIf(NOT ({where}), "
        + f"{_quote(CHECK_FAILED)}) = 0"
    )
    return PassThroughInsert(table, header, tuple(stored), select)


def new_end() -> bytes:
    return os.urandom(avro_container.END_SIZE)
