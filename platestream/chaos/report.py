"""The fault suite's options and report (figures, problems, the printed tables)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platestream.bench.report import table
from platestream.chaos.faults import Fault, FaultResult
from platestream.settings import PROJECT_ROOT


@dataclass
class ChaosOptions:
    faults: list[Fault]
    rate: float = 20.0
    hit_every: int = 10
    warmup_s: float = 5.0
    between_s: float = 3.0
    recovery_timeout_s: float = 180.0
    passage_timeout_s: float = (
        60.0  # after a fault's rows are stored, how long to wait for passages
    )
    final_timeout_s: float = 180.0
    webhook_fail_every: int = 3
    broker_engine: str = (
        "s3"  # s3: the log survives a broker restart; memory: faster, no broker faults
    )
    stages: tuple[str, ...] = ("ingest", "enrich", "sink", "notify")
    log_dir: Path = PROJECT_ROOT / "var" / "log" / "chaos"


@dataclass
class ChaosReport:
    run_id: str
    options: dict[str, Any]
    faults: list[FaultResult] = field(default_factory=list)
    checks: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict

        return {
            "run_id": self.run_id,
            "options": self.options,
            "faults": [asdict(r) for r in self.faults],
            "figures": self.figures,
            "checks": self.checks,
            "problems": self.problems,
            "passed": self.passed,
        }

    def table(self) -> str:
        f = self.figures
        head = table(
            [
                "events sent",
                "acknowledged",
                "stored",
                "lost",
                "duplicated",
                "images missing",
                "alerts expected",
                "alerts delivered",
                "alert copies (across a notify kill)",
            ],
            [
                [
                    f.get("sent"),
                    f.get("acknowledged"),
                    f.get("stored"),
                    f.get("lost"),
                    f.get("duplicated"),
                    f.get("images_missing"),
                    f.get("alerts_expected"),
                    f.get("alerts_delivered"),
                    f"{f.get('alert_duplicates')} ({f.get('alert_redeliveries_across_notify_kill', 0)})",
                ]
            ],
        )
        faults = table(
            [
                "fault",
                "acked before",
                "ingest unable to ack (s)",
                "all stored after (s)",
                "all in passages after (s)",
                "note",
            ],
            [
                [
                    r.fault,
                    r.acked_before,
                    r.ack_gap_s,
                    r.recovery_s if r.recovery_s is not None else "NOT RECOVERED",
                    r.passages_s,
                    r.note,
                ]
                for r in self.faults
            ],
        )
        verdict = "PASS" if self.passed else "FAIL: " + "; ".join(self.problems)
        return f"{head}\n\n{faults}\n\n{verdict}"
