"""The faults the suite injects, what each one's result records, and how redeliveries are judged."""

from __future__ import annotations

import itertools
from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    """One fault: ``kill`` a stage (-9), ``restart`` a stack component, or ``outage`` (stop, wait, start)."""

    kind: str
    target: str
    duration_s: float = 0.0

    @property
    def name(self) -> str:
        if self.kind == "kill":
            return f"kill -9 {self.target}"
        if self.kind == "restart":
            return f"restart {self.target}"
        return f"{self.target} down {self.duration_s:g} s"


def full_faults(
    outage_s: float = 30.0, stages: tuple[str, ...] = ("ingest", "enrich", "sink", "notify")
) -> list[Fault]:
    return [
        *(Fault("kill", s) for s in stages),
        Fault("restart", "broker"),
        Fault("outage", "clickhouse", outage_s),
        Fault("outage", "s3", outage_s),
    ]


def short_faults(
    outage_s: float = 5.0, stages: tuple[str, ...] = ("sink", "enrich", "ingest", "notify")
) -> list[Fault]:
    """For `make test`: every kind of fault of the full suite, with short outages."""
    return [
        *(Fault("kill", s) for s in stages),
        Fault("restart", "broker"),
        Fault("outage", "clickhouse", outage_s),
        Fault("outage", "s3", outage_s),
    ]


@dataclass
class FaultResult:
    fault: str
    acked_before: int
    recovery_s: float | None
    note: str = ""
    passages_s: float | None = None
    injected_ms: int = 0
    restored_ms: int = 0
    ack_gap_s: float | None = None  # longest time around the fault with no push acknowledged


def longest_ack_gap_s(ack_ms: list[int], start_ms: int, end_ms: int) -> float:
    """The longest time within ``[start_ms, end_ms]`` (a fault's window: from its injection to the
    next one) with no push acknowledged: how long ingest could not acknowledge during the fault
    (at the suite's push rate about 0.1-0.3 s when nothing is wrong; pushes that fail meanwhile
    are retried by the load, as cameras do). A stretch is clipped to the window, so an outage is
    not also charged to the fault before it."""
    times = sorted(ack_ms)
    before = [t for t in times if t < start_ms]
    inside = [t for t in times if start_ms <= t <= end_ms]
    after = [t for t in times if t > end_ms]
    points = [before[-1] if before else start_ms, *inside, after[0] if after else end_ms]
    longest = max(min(b, end_ms) - max(a, start_ms) for a, b in itertools.pairwise(points))
    return round(max(0, longest) / 1000, 2)


def redeliveries(
    accepted_at: dict[str, list[int]], faults: list[FaultResult]
) -> tuple[list[str], list[str]]:
    """Split alerts the receiver accepted more than once: (across a notifier kill, unexplained).

    The notifier records a delivery after the receiver answered; killed in between, its successor
    delivers again (at-least-once; the receiver can drop the copy by `X-Platestream-Alert-Id`).
    Such a copy is explained when a ``kill -9 notify`` happened between the first and the last
    accept of that alert. Any other copy means the notifier's dedup failed.
    """
    kills = [f.injected_ms for f in faults if f.fault == "kill -9 notify" and f.injected_ms]
    explained, unexplained = [], []
    for alert_id, times in sorted(accepted_at.items()):
        if len(times) < 2:
            continue
        first, last = min(times), max(times)
        if any(first <= k <= last for k in kills):
            explained.append(alert_id)
        else:
            unexplained.append(alert_id)
    return explained, unexplained
