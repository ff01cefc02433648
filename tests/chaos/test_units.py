"""Pure parts of the benchmark and fault driver: no server needed."""

from __future__ import annotations

import itertools
import json

import httpx
import pytest

from platestream.bench import harness, probes
from platestream.bench.load import Paced, ReadFactory, plate_for
from platestream.bench.report import table
from platestream.bench.soak import memory_verdict, slope_per_min
from platestream.chaos import (
    FaultResult,
    WebhookReceiver,
    full_faults,
    redeliveries,
    short_faults,
)
from platestream.plates import plate_distance
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings


def test_plates_are_deterministic_and_far_apart() -> None:
    assert plate_for(42) == plate_for(42)
    assert plate_for(42) != plate_for(42, salt=1)
    plates = [plate_for(i) for i in range(300)]
    assert all(len(p) == 7 and p[3].isdigit() and p[:3].isalpha() for p in plates)
    # Plates of a run rarely look like OCR variants of one another (enrich would merge them).
    pairs = list(itertools.combinations(plates, 2))
    close = [(a, b) for a, b in pairs if plate_distance(a, b) <= 2.0]
    assert len(close) <= len(pairs) // 10_000


def test_reads_encode_with_the_catalogue_schema_and_carry_their_ids() -> None:
    serde = AvroSerde()
    factory = ReadFactory("run1")
    rec = factory.read(7, 1_700_000_000_000)
    decoded = serde.decode(serde.encode("plate_read", rec))
    assert decoded["read_id"] == factory.read_id(7) == ReadFactory("run1").read_id(7)
    assert decoded["received_at"] == 1_700_000_000_000
    assert factory.read_id(7) != ReadFactory("run2").read_id(7)


def test_pacing_counts_what_is_due() -> None:
    assert Paced(2000).due(0.5) == 1000
    assert Paced(2000, total=300).due(10) == 300


def test_sustained_rate_uses_the_window_where_rows_arrive() -> None:
    # idle 2 s, then 1000 rows/s for 3 s, then idle: the idle tail does not dilute the rate
    points = [(0, 0), (1, 0), (2, 0), (3, 1000), (4, 2000), (5, 3000), (6, 3000), (7, 3000)]
    got = probes.sustained_rate(points, target=3000)
    assert got["rows_per_s"] == 1000.0
    assert got["rows"] == 3000
    assert probes.sustained_rate([(0, 5)]) == {"rows": 5, "rows_per_s": None, "window_s": None}
    assert probes.peak_rate([(0, 0), (5, 5000), (10, 20000)], window_s=5) == 3000.0


def test_slope_and_memory_verdict() -> None:
    assert slope_per_min([(0, 100.0), (60, 110.0), (120, 120.0)]) == pytest.approx(10.0)
    assert slope_per_min([(0, 1.0), (1, 1.0)]) is None
    flat = [
        {"t": t, "a": {"rss_mib": 100.0 + (t if t < 50 else 50) * 0.5}, "b": {"rss_mib": 100.0 + t}}
        for t in range(0, 200, 5)
    ]
    verdict = memory_verdict(flat, ["a", "b"], max_slope=2.0)
    assert verdict["a"]["bounded"] is True  # grew while warming up, then flat
    # A cache that fills until 60 % of the run: the second half still climbs, the last quarter is flat.
    late = [{"t": t, "c": {"rss_mib": 100.0 + min(t, 120) * 0.5}} for t in range(0, 200, 5)]
    assert memory_verdict(late, ["c"], max_slope=2.0)["c"]["bounded"] is True
    assert verdict["b"]["bounded"] is False  # 60 MiB/min all along
    assert verdict["b"]["slope_mib_per_min"] == pytest.approx(60.0)


def test_fault_lists() -> None:
    names = [f.name for f in full_faults(30)]
    assert names == [
        "kill -9 ingest",
        "kill -9 enrich",
        "kill -9 sink",
        "kill -9 notify",
        "restart broker",
        "clickhouse down 30 s",
        "s3 down 30 s",
    ]
    short = short_faults(5)
    assert all(f.duration_s <= 5 for f in short)
    # the short form (make test) covers every kind of fault of the full suite
    assert {(f.kind, f.target) for f in short} == {(f.kind, f.target) for f in full_faults(30)}


def test_stage_env_isolates_a_run() -> None:
    base = CommonSettings(env="test")
    iso = harness.isolated(base, "bench1234abcd")
    env = harness.stage_env(iso, PLATESTREAM_INGEST_PORT="1234")
    assert env["PLATESTREAM_TOPIC_PREFIX"] == "bench1234abcd."
    assert env["PLATESTREAM_CLICKHOUSE_DATABASE"] == "bench1234abcd_db"
    assert env["PLATESTREAM_S3_BUCKET"] == "bench1234abcd-img"
    assert env["PLATESTREAM_ENRICH_METRICS_PORT"] == "0"
    assert env["PLATESTREAM_INGEST_PORT"] == "1234"
    assert harness.group_id(iso, "platestream-enrich") == "bench1234abcd.platestream-enrich"


def test_webhook_receiver_fails_every_third_request_and_records_the_rest() -> None:
    hook = WebhookReceiver(fail_every=3).start()
    try:
        codes = [
            httpx.post(hook.url, content=json.dumps({"alert_id": f"a{i}"}), timeout=5).status_code
            for i in range(6)
        ]
    finally:
        hook.stop()
    assert codes == [200, 200, 500, 200, 200, 500]
    assert hook.accepted == {"a0": 1, "a1": 1, "a3": 1, "a4": 1}
    assert set(hook.accepted_at) == set(hook.accepted)
    assert all(len(t) == 1 and t[0] > 0 for t in hook.accepted_at.values())
    assert hook.refused == 2
    assert WebhookReceiver.alert_id(b'{"alert": {"alert_id": "x"}}') == "x"
    assert WebhookReceiver.alert_id(b"not json") == "<unreadable>"


def test_an_alert_copy_counts_as_explained_only_across_a_notifier_kill() -> None:
    faults = [
        FaultResult("kill -9 sink", 10, 1.0, injected_ms=1_000),
        FaultResult("kill -9 notify", 20, 1.0, injected_ms=5_000),
    ]
    accepted_at = {
        "across": [4_990, 6_200],  # delivered, notifier killed, delivered again by its successor
        "sink-only": [
            900,
            1_100,
        ],  # a copy around another stage's kill: the notifier's dedup failed
        "later": [7_000, 7_500],  # a copy long after the kill
        "once": [3_000],
    }
    explained, unexplained = redeliveries(accepted_at, faults)
    assert explained == ["across"]
    assert unexplained == ["later", "sink-only"]
    assert redeliveries(accepted_at, faults[:1]) == ([], ["across", "later", "sink-only"])


class _FakeClient:
    def __init__(self, present: set[str]) -> None:
        self.present = present
        self.queries: list[str] = []

    def query(self, sql: str, parameters: dict[str, object]) -> object:
        self.queries.append(sql)
        ids = parameters["ids"]
        assert isinstance(ids, list)

        rows = [(i,) for i in ids if i in self.present]
        return type("Result", (), {"result_rows": rows})()


def test_freshness_probe_moves_seen_ids_out_of_pending() -> None:
    probe = probes.FreshnessProbe(
        settings=CommonSettings(env="test"), table="db.t", id_column="read_id", time_column="ts"
    )
    probe.track("a", 1000)
    probe.track("b", 1000)
    client = _FakeClient({"a"})
    assert probe.poll_once(client) == 1
    assert set(probe.pending) == {"b"}
    assert probe.seen["a"] > 0
    assert "ts >= fromUnixTimestamp64Milli" in client.queries[0]
    summary = probe.summary()
    assert summary["samples"] == 1 and summary["missing"] == 1


def test_markdown_table() -> None:
    out = table(["fault", "recovery (s)"], [["kill -9 sink", 3.5], ["restart broker", None]])
    assert out.splitlines()[0] == "| fault          | recovery (s) |"
    assert "| restart broker | n/a          |" in out


def test_longest_ack_gap_is_clipped_to_the_fault_window() -> None:
    from platestream.chaos import longest_ack_gap_s

    acks = [0, 100, 200, 1_000, 6_000, 6_100, 9_000]
    # the window 1,500-5,000 ms lies inside the 5 s stretch between the acks at 1 s and 6 s
    assert longest_ack_gap_s(acks, 1_500, 5_000) == 3.5
    assert longest_ack_gap_s(acks, 500, 7_000) == 5.0
    # a stretch that begins in this window and runs into the next fault's is cut at the window
    assert longest_ack_gap_s(acks, 6_050, 6_100) == 0.05
    assert longest_ack_gap_s(acks, 6_050, 8_000) == 1.9
    # no ack at all: the whole window; no ack after the window: until its end
    assert longest_ack_gap_s([], 1_000, 4_000) == 3.0
    assert longest_ack_gap_s([0], 1_000, 2_500) == 1.5


def test_a_small_step_at_the_end_is_not_a_leak_but_steady_growth_is() -> None:
    # the 2026-12-02 soak: flat at 189-191 MiB, then +6 MiB at the last sample (a lag spike)
    step = [{"t": t, "s": {"rss_mib": 190.0 if t < 120 else 196.8}} for t in range(0, 121, 20)]
    assert memory_verdict(step, ["s"], max_slope=4.0)["s"]["bounded"] is False
    assert memory_verdict(step, ["s"], max_slope=4.0, min_growth=10.0)["s"]["bounded"] is True
    leak = [{"t": t, "s": {"rss_mib": 190.0 + t * 0.2}} for t in range(0, 121, 20)]  # 12 MiB/min
    assert memory_verdict(leak, ["s"], max_slope=4.0, min_growth=10.0)["s"]["bounded"] is False
