"""Avro object container files built from record bytes as they came off the topic, no decoding.

A record on a topic is the Confluent wire format: a magic byte, a 4-byte schema id, then the
Avro binary datum. Avro's binary encoding of a record is the concatenation of its fields, so a
datum prefixed by more encoded fields is a datum of a wider record. ``envelope`` describes that
wider record for the container's header: the source partition and offset first, then the
writer's own fields, then an 8-byte end marker. ClickHouse decodes such a file (``FORMAT Avro``);
the end marker lets it check, row by row, that every datum was read exactly to its end.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from platestream.serde import strip_logical

MAGIC = b"Obj\x01"
END_SIZE = 8
WIRE_HEADER = 5  # magic byte + schema id


def zigzag(n: int) -> bytes:
    """Avro's variable-length zig-zag encoding of an int or long."""
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n & ~0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def envelope(writer: dict[str, Any]) -> dict[str, Any]:
    """The header schema of a container whose rows are (partition, offset, writer's fields, end)."""
    plain = strip_logical(writer)  # the same bytes, timestamps read as longs
    return {
        "type": "record",
        "name": "PassThrough",
        # the writer's named types (Box, ImageRef...) resolve in its namespace
        "namespace": plain.get("namespace", ""),
        "fields": [
            {"name": "_partition", "type": "int"},
            {"name": "_offset", "type": "long"},
            *plain["fields"],
            {"name": "_end", "type": {"type": "fixed", "name": "PassThroughEnd", "size": END_SIZE}},
        ],
    }


def container(header_schema: dict[str, Any], rows: Sequence[bytes]) -> bytes:
    """One object container file, one block, no compression, of already encoded ``rows``."""
    sync = os.urandom(16)
    meta = {b"avro.schema": json.dumps(header_schema).encode(), b"avro.codec": b"null"}
    head = [MAGIC, zigzag(len(meta))]
    for k, v in meta.items():
        head += [zigzag(len(k)), k, zigzag(len(v)), v]
    body = b"".join(rows)
    return b"".join([*head, zigzag(0), sync, zigzag(len(rows)), zigzag(len(body)), body, sync])


def row(partition: int, offset: int, value: bytes, end: bytes) -> bytes:
    """One envelope row: the record's datum (its wire header cut off) between position and end."""
    return zigzag(partition) + zigzag(offset) + value[WIRE_HEADER:] + end
