"""`platestream bench erasure-filter`: what the erasure ledger costs the sink per record.

The sink checks every record it stores against the ledger (platestream/privacy/erasure.py) once
there is any erasure in it. This measures that check alone, in process CPU time, on the records
`bench pipeline` produces (reads of the load generator and the passages enrich makes of them),
with an empty ledger and with ``erasures`` entries, median of ``repeats`` passes each, next to the
reference unit measured in the same run. Each pass starts with a cold cache of subject ids.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from platestream.bench.load import ReadFactory
from platestream.bench.reference import in_units, reference_unit_us
from platestream.benchutil import machine
from platestream.privacy.erasure import ErasureLedger, plate_request

KEY = "bench-erasure-filter-key"


def _records(n: int) -> list[tuple[str, dict[str, Any]]]:
    reads = ReadFactory("bench-erasure")
    out: list[tuple[str, dict[str, Any]]] = []
    for i in range(n):
        read = reads.read(i, 1_760_000_000_000 + i)
        out.append(("plate_read", read))
        if i % 3 == 0:  # about one passage per three reads, as in bench pipeline
            event = {"event_id": f"e{i}", "ts": read["ts"], "plate": read["plate"]}
            out.append(("plate_event", {**event, "variants": [read["plate"]]}))
    return out


def _pass(records: list[tuple[str, dict[str, Any]]], erasures: int) -> float:
    ledger = ErasureLedger(key=KEY)
    for j in range(erasures):
        ledger.add(plate_request(f"ZZ{j:06d}", key=KEY, actor="bench", ts=0))
    t0 = time.process_time()
    for schema, rec in records:  # as ClickHouseSink.handle does it
        if not ledger.empty():
            ledger.apply(schema, rec)
    return (time.process_time() - t0) * 1e6 / len(records)


def run(reads: int = 100_000, erasures: int = 10, repeats: int = 5) -> dict[str, Any]:
    records = _records(reads)
    empty = statistics.median(_pass(records, 0) for _ in range(repeats))
    full = statistics.median(_pass(records, erasures) for _ in range(repeats))
    unit = reference_unit_us()
    return {
        "command": f"platestream bench erasure-filter --reads {reads} --erasures {erasures}",
        "machine": machine(),
        "records": len(records),
        "reference_unit_us": round(unit, 3),
        "us_per_record_empty_ledger": round(empty, 3),
        "us_per_record_with_erasures": round(full, 3),
        "cost_us_per_record": round(full - empty, 3),
        "cost_ru_per_record": in_units(full - empty, unit),
    }
