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

import contextlib
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


class UnitSampler:
    """The reference unit measured all through a run, not once before it.

    One measurement before a run catches the machine as it was then: on this shared machine kind
    the unit measured at the start of pipeline runs of the same code moved between 22 and 46 µs
    while the stages' CPU per read moved by a tenth (docs/benchmarks.md, 2026-12-05, night). A
    child process (``python -m platestream.bench.reference --every S``) times ``ops`` reference
    operations every ``every_s`` seconds, about 2.5 % of a core, and `summary` gives the median of
    what it measured: the unit the stages' CPU time was spent at. A process of its own, so that
    its bursts hold no lock of the benchmark's (the GIL of a load generator)."""

    def __init__(self, every_s: float = 1.0, ops: int = 1000) -> None:
        import subprocess
        import sys
        import threading

        self.values: list[float] = []
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "platestream.bench.reference",
                f"--every={every_s}",
                f"--ops={ops}",
            ],
            stdout=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, name="unit-sampler", daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._proc.pid

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            try:
                self.values.append(float(line))
            except ValueError:
                continue

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except Exception:
                self._proc.kill()
                self._proc.wait(5)
        self._reader.join(5)

    def summary(self) -> dict[str, Any] | None:
        """Median, min, max and count of the units measured (None when none was)."""
        if not self.values:
            return None
        return {
            "median_us": round(statistics.median(self.values), 3),
            "min_us": round(min(self.values), 3),
            "max_us": round(max(self.values), 3),
            "n": len(self.values),
        }


def _sample_forever(every_s: float, ops: int) -> None:
    """Print the unit (µs) of ``ops`` operations every ``every_s`` seconds until killed."""
    reference_op()
    while True:
        t = time.process_time()
        for _ in range(ops):
            reference_op()
        print(round((time.process_time() - t) / ops * 1e6, 3), flush=True)
        time.sleep(every_s)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=_sample_forever.__doc__)
    parser.add_argument("--every", type=float, default=1.0)
    parser.add_argument("--ops", type=int, default=1000)
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt, BrokenPipeError):
        _sample_forever(args.every, args.ops)
