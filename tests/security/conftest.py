"""The security suite's measurements, printed as one table at the end of the session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from tests.security.avro_strategies import RUNS


@dataclass(frozen=True)
class Row:
    """One attack as measured: how long the attacked stage could not serve others, what was lost."""

    attack: str
    stage: str
    stalled_s: float  # longest time another camera's record or push waited during the attack
    lost: int  # other cameras' records that never came out
    dead_letters: int  # dead letters (or 4xx refusals, at the edge) the attack produced
    outcome: str


ROWS: list[Row] = []


@pytest.fixture
def record_attack() -> Callable[..., None]:
    def add(attack: str, stage: str, stalled_s: float, lost: int, dead: int, outcome: str) -> None:
        ROWS.append(Row(attack, stage, stalled_s, lost, dead, outcome))

    return add


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    tr = terminalreporter
    if RUNS:
        tr.section("security suite: fuzzing (records handled within budget, no crash)")
        for target, n in sorted(RUNS.items()):
            tr.write_line(f"{target:<44} {n:>7}")
    if not ROWS:
        return
    tr.section("security suite: attacks against the running local pipeline")
    head = f"{'attack':<44} {'stage':<7} {'stalled':>8} {'lost':>5} {'DLQ':>4}  outcome"
    tr.write_line(head)
    tr.write_line("-" * len(head))
    for r in ROWS:
        tr.write_line(
            f"{r.attack:<44} {r.stage:<7} {r.stalled_s:>7.3f}s {r.lost:>5} {r.dead_letters:>4}  "
            f"{r.outcome}"
        )
