"""The reference unit: the CPU time of a fixed piece of work, measured in the same run.

Wall-clock rates from one machine say little about another (a busier core of the same kind gave a
quarter of the rows/s, docs/benchmarks.md). Every benchmark therefore also measures, on the machine
and in the process it runs in, the CPU time of one *reference operation*: fastavro's schemaless
decode plus encode of one fixed plate read (the schema and record below are frozen here, so the
unit does not move when the project's schemas do). A stage's CPU per read divided by it is a
figure that travels: "enrich costs 3.1 reference units per read" means the same on a laptop and
on a loaded cloud core, as far as the work is like Avro work (Python objects, small allocations).

One reference unit (ru) = the median, over ``repeats`` rounds, of the CPU time per operation.
"""

from __future__ import annotations

import io
import statistics
import time
from typing import Any

import fastavro

SCHEMA: dict[str, Any] = {
    "type": "record",
    "name": "ReferenceRead",
    "namespace": "io.platestream.bench",
    "fields": [
        {"name": "read_id", "type": "string"},
        {"name": "frame_id", "type": "string"},
        {"name": "camera_id", "type": "string"},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "plate", "type": "string"},
        {"name": "plate_raw", "type": ["null", "string"], "default": None},
        {"name": "confidence", "type": "float"},
        {"name": "char_confidences", "type": {"type": "array", "items": "float"}},
        {
            "name": "candidates",
            "type": {
                "type": "array",
                "items": {
                    "type": "record",
                    "name": "Candidate",
                    "fields": [
                        {"name": "plate", "type": "string"},
                        {"name": "confidence", "type": "float"},
                    ],
                },
            },
        },
        {"name": "plate_format", "type": ["null", "string"], "default": None},
        {
            "name": "plate_box",
            "type": {
                "type": "record",
                "name": "Box",
                "fields": [{"name": k, "type": "int"} for k in ("x", "y", "w", "h")],
            },
        },
        {"name": "detection_confidence", "type": ["null", "float"], "default": None},
        {"name": "vehicle_type", "type": ["null", "string"], "default": None},
        {"name": "country", "type": ["null", "string"], "default": None},
        {"name": "direction", "type": ["null", "string"], "default": None},
        {"name": "lane", "type": ["null", "int"], "default": None},
        {"name": "received_at", "type": ["null", "long"], "default": None},
    ],
}
RECORD: dict[str, Any] = {
    "read_id": "f3b2c1d0e9a8b7c6-0",
    "frame_id": "f3b2c1d0e9a8b7c6",
    "camera_id": "cam-017",
    "ts": 1_767_225_600_000,
    "plate": "ABC1D23",
    "plate_raw": "ABC-1D23",
    "confidence": 0.93,
    "char_confidences": [0.97, 0.96, 0.95, 0.9, 0.94, 0.98, 0.97],
    "candidates": [
        {"plate": "ABC1D23", "confidence": 0.93},
        {"plate": "A8C1D23", "confidence": 0.4},
    ],
    "plate_format": "BR_MERCOSUR",
    "plate_box": {"x": 812, "y": 604, "w": 168, "h": 52},
    "detection_confidence": 0.88,
    "vehicle_type": "car",
    "country": "BR",
    "direction": "approaching",
    "lane": 1,
    "received_at": 1_767_225_600_120,
}
_PARSED = fastavro.parse_schema(SCHEMA)


def reference_op() -> None:
    """One reference operation: decode and re-encode the fixed record (schemaless Avro)."""
    buf = io.BytesIO(_ENCODED)
    rec = fastavro.schemaless_reader(buf, _PARSED, _PARSED)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, _PARSED, rec)


def _encode() -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, _PARSED, RECORD)
    return out.getvalue()


_ENCODED = _encode()


def reference_unit_us(n: int = 5_000, repeats: int = 5) -> float:
    """CPU µs of one reference operation in this process: the median of ``repeats`` rounds."""
    reference_op()  # warm
    rounds = []
    for _ in range(repeats):
        t = time.process_time()
        for _ in range(n):
            reference_op()
        rounds.append((time.process_time() - t) / n * 1e6)
    return round(statistics.median(rounds), 3)


def in_units(cpu_us: float | None, unit_us: float | None) -> float | None:
    """``cpu_us`` expressed in reference units (None when either is unknown)."""
    if cpu_us is None or not unit_us:
        return None
    return round(cpu_us / unit_us, 2)
