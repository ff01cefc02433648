"""`python -m services.api.bench_ingest --batch`: the per-view run, small, on chDB in process."""

from __future__ import annotations

import pytest

from services.api.bench_ingest import EVENT_VIEWS, per_view


def test_per_view_measures_every_view_and_none() -> None:
    out = per_view(batch=20, inserts=2, runs=1)
    cpu = out["cpu_ms_per_insert"]
    assert set(cpu) == {"all", "none", *(f"without {v}" for v in EVENT_VIEWS)}
    assert all(r["median"] > 0 and len(r["runs"]) == 1 for r in cpu.values())
    # eight views each write a part per insert: with none the insert is several times cheaper
    assert cpu["none"]["median"] < cpu["all"]["median"]
    saving = cpu["all"]["median"] - cpu["none"]["median"]
    assert cpu["none"]["saving_ms"] == pytest.approx(saving, abs=0.02)
