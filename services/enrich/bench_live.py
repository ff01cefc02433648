"""Enrich in process at a live rate, with the pipeline benchmark's workload (issue 18).

``platestream bench pipeline --no-detect --rate 2000`` sends reads that are each a passage of their
own (one read per plate over 1,000 cameras), where ``bench enrich`` sends ~6 reads per passage, so
the pipeline pays a whole passage per read. This replays the pipeline's reads (same factory, same
watchlist hits, 2,000 reads/s of event time) through ``EnrichProcessor`` in batches of one 50 ms
poll, with housekeeping and commits on the processor's own cadence and a simulated clock; the
producer is a counter. No broker, so what it measures is the stage's own Python work.

    python -m services.enrich.bench_live [READS]

Prints the CPU per read in µs and in reference units (platestream/bench/reference.py), the median
over 5,000-read chunks after the first two (passages start closing 3 s of event time in).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from platestream.bench.inmemory import CountingProducer, InMemoryMessage
from platestream.bench.load import ReadFactory
from platestream.bench.pipeline import bolo_entries
from platestream.bench.reference import reference_unit_us
from platestream.runtime import freeze_long_lived
from platestream.serde import AvroSerde
from services.enrich.bolo import Entry, Watchlists
from services.enrich.processor import EnrichProcessor
from services.enrich.settings import EnrichSettings

RATE = 2000  # reads/s, as the pipeline benchmark's --rate 2000
POLL_MS = 50  # one consume at the default enrich_poll_timeout_s
CHUNK = 5000
T0 = 1_767_225_600_000


class _Offsets:
    def commit(self, **_: Any) -> None:
        pass


def run(reads: int = 40_000) -> dict[str, Any]:
    clock = [T0]
    serde = AvroSerde()
    hits = range(0, reads, 500)  # the pipeline benchmark's --alert-every 500
    watchlists = Watchlists()
    watchlists.load(
        Entry.from_record(serde.decode(v)) for _k, v in bolo_entries("live", hits, serde, "bolo")
    )
    proc = EnrichProcessor(
        settings=EnrichSettings(enrich_metrics_port=0),
        consumer=_Offsets(),  # type: ignore[arg-type]
        producer=CountingProducer(),  # type: ignore[arg-type]
        serde=serde,
        watchlists=watchlists,
        clock=lambda: clock[0],
    )
    factory, hot, msgs = ReadFactory("live", cameras=1000), set(hits), []
    for i in range(reads):
        rec = factory.read(i, T0 + i * 1000 // RATE)
        if i in hot:
            rec["confidence"] = 0.97
        value = serde.encode("plate_read", rec)
        msgs.append(InMemoryMessage(proc.reads_topic, i % 6, i // 6, value, b""))
    freeze_long_lived()
    per_poll = RATE * POLL_MS // 1000
    us: list[float] = []
    units: list[float] = []
    for start in range(0, reads, CHUNK):
        cpu = time.process_time()
        for i in range(start, min(reads, start + CHUNK), per_poll):
            clock[0] = T0 + (i + per_poll) * 1000 // RATE
            proc.process(msgs[i : i + per_poll])  # type: ignore[arg-type]
            proc.housekeeping(clock[0])
            if clock[0] - proc._last_commit >= proc._commit_interval_ms:
                proc._last_commit = clock[0]
                proc.flush_and_commit()
        used = (time.process_time() - cpu) / CHUNK * 1e6
        us.append(used)
        units.append(used / reference_unit_us(n=2_000, repeats=1))
    steady_us, steady_ru = us[2:] or us, units[2:] or units
    return {
        "reads": reads,
        "events": proc.stats.events,
        "alerts": proc.stats.alerts,
        "cpu_us_per_read": round(statistics.median(steady_us), 1),
        "ru_per_read": round(statistics.median(steady_ru), 2),
        "ru_per_read_chunks": [round(u, 2) for u in units],
    }


if __name__ == "__main__":
    out = run(int(sys.argv[1]) if len(sys.argv) > 1 else 40_000)
    print(
        f"enrich at a live rate, in process: {out['cpu_us_per_read']} us = {out['ru_per_read']} ru"
        f" per read (chunks {out['ru_per_read_chunks']}); {out['events']} events,"
        f" {out['alerts']} alerts from {out['reads']} reads"
    )
