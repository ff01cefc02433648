"""The fault-injection driver: steady load through the real ingest HTTP path while faults are injected.

A private local stack (broker on the S3 engine, so its log survives a restart) and the real stage
processes under a Supervisor take generic-format pushes with one small JPEG each; a fraction of
the plates are on a watchlist whose alerts go to a local webhook receiver that fails
intermittently. Every event id the ingest server answered 2xx for is recorded. Faults are
injected one after another (kill -9 of a stage, broker restart, ClickHouse or S3 store down for a
while); after each, recovery is the time until every event acknowledged so far is queryable.
At the end the ClickHouse, bucket and webhook contents are compared id by id with what was
acknowledged. Used by `tests/chaos/` (short form in `make test`, full form in `make chaos`).

Rooms: ``faults`` (what is injected), ``load`` (pushes and the webhook), ``checks`` (queries),
``report`` (options, figures, tables), ``diagnose`` (why a run failed), ``prepare`` (the stages'
environment, the watchlist, readiness before the load), ``run`` (the driver).
"""

from platestream.bench import harness
from platestream.chaos.faults import (
    Fault,
    FaultResult,
    full_faults,
    longest_ack_gap_s,
    redeliveries,
    short_faults,
)
from platestream.chaos.load import DEVICE_SECRET, Acked, IngestLoad, WebhookReceiver
from platestream.chaos.report import ChaosOptions, ChaosReport
from platestream.chaos.run import ChaosRun, run_suite

available_stages = harness.available_stages

__all__ = [
    "DEVICE_SECRET",
    "Acked",
    "ChaosOptions",
    "ChaosReport",
    "ChaosRun",
    "Fault",
    "FaultResult",
    "IngestLoad",
    "WebhookReceiver",
    "available_stages",
    "full_faults",
    "longest_ack_gap_s",
    "redeliveries",
    "run_suite",
    "short_faults",
]
