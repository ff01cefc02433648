"""Getting a benchmark run ready: writing its setup records, and waiting until the stages answer.

Shared by `bench pipeline`, `bench soak` and the fault suite: ``warm_up`` sends a canary read (and
frame) and waits until it is a row in ClickHouse, so the load starts on a pipeline that works.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from platestream import topics as catalogue
from platestream.bench import harness
from platestream.bench.load import FrameFactory, ReadFactory, plate_for
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)


def produce_all(settings: CommonSettings, topic: str, records: list[tuple[bytes, bytes]]) -> None:
    from platestream.kafka import make_producer

    producer = make_producer(settings)
    for key, value in records:
        producer.produce(topic, key=key, value=value)
        producer.poll(0)
    if producer.flush(60):
        raise RuntimeError(f"could not write {len(records)} records to {topic}")


def server_freshness(client: Any, table: str, where: str = "1") -> dict[str, Any]:
    """Freshness from the rows themselves: inserted_at (server clock at insert) - received_at.

    A lower bound of "queryable" (the insert is visible a little after inserted_at is taken),
    over every row rather than a sample.
    """
    row = client.query(
        f"SELECT count(), quantiles(0.5, 0.99)(dateDiff('millisecond', received_at, inserted_at)),"
        f" max(dateDiff('millisecond', received_at, inserted_at))"
        f" FROM {table} WHERE received_at IS NOT NULL AND {where}"
    ).result_rows[0]
    n, qs, mx = row
    return {
        "rows": int(n),
        "p50_ms": qs[0] if n else None,
        "p99_ms": qs[1] if n else None,
        "max_ms": mx if n else None,
    }


def wait_count(settings: CommonSettings, sql: str, at_least: int, timeout_s: float) -> bool:
    """Poll a count query until it reaches ``at_least`` (bounded; survives query errors)."""
    from platestream.clickhouse import make_clickhouse

    client = make_clickhouse(settings)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if int(str(client.command(sql))) >= at_least:
                return True
        except Exception as exc:
            logger.debug("count poll: %s", exc)
        time.sleep(0.3)
    return False


def warm_up(
    settings: CommonSettings,
    stages: harness.Stages,
    serde: AvroSerde,
    factory: ReadFactory,
    frames: FrameFactory | None,
    *,
    backlog: bool,
) -> int:
    """Readiness end to end: a canary read (and frame) must reach ClickHouse before load starts.

    Returns the number of canary read rows written. With a backlog the stages are already busy
    with it, so readiness is only "rows are arriving".
    """
    db = settings.clickhouse_database
    if backlog:
        if not wait_count(settings, f"SELECT count() FROM {db}.plate_reads", 1, 120):
            raise RuntimeError(
                f"no rows reached ClickHouse in 120 s; sink log:\n{stages.log_tail('sink')}"
            )
        return 0
    from platestream.kafka import make_producer

    producer = make_producer(settings)
    canary = factory.read(-1, now_ms())
    topic = settings.topic(catalogue.PLATE_READS.name)
    producer.produce(
        topic,
        key=canary["camera_id"].encode(),
        value=serde.encode("plate_read", canary, subject=f"{topic}-value"),
    )
    if frames is not None:
        ftopic = settings.topic(catalogue.FRAMES.name)
        frame = frames.frame(0, now_ms())
        producer.produce(
            ftopic,
            key=frame["camera_id"].encode(),
            value=serde.encode("frame", frame, subject=f"{ftopic}-value"),
        )
    producer.flush(30)
    rid = canary["read_id"]
    if not wait_count(
        settings, f"SELECT count() FROM {db}.plate_reads WHERE read_id = '{rid}'", 1, 90
    ):
        raise RuntimeError(
            f"the canary read did not reach ClickHouse in 90 s; sink log:\n{stages.log_tail('sink')}"
        )
    if not wait_count(
        settings, f"SELECT count() FROM {db}.plate_events WHERE best_read_id = '{rid}'", 1, 60
    ):
        raise RuntimeError(
            f"the canary read made no plate event in 60 s; enrich log:\n{stages.log_tail('enrich')}"
        )
    rows = 1
    if frames is not None:
        fid = frames.frame_id(0)
        if not wait_count(
            settings, f"SELECT count() FROM {db}.plate_reads WHERE frame_id = '{fid}'", 1, 240
        ):
            raise RuntimeError(
                f"the canary frame gave no read in 240 s; detect log:\n{stages.log_tail('detect')}"
            )
        from platestream.clickhouse import make_clickhouse

        rows += int(
            str(
                make_clickhouse(settings).command(
                    f"SELECT count() FROM {db}.plate_reads WHERE frame_id = '{fid}'"
                )
            )
        )
    return rows


def bolo_entries(
    run_id: str, indexes: range, serde: AvroSerde, topic: str
) -> list[tuple[bytes, bytes]]:
    """Exact-match watchlist entries for the plates of the given read indexes."""
    out = []
    for i in indexes:
        entry_id = f"{run_id}-bolo-{i}"
        rec = {
            "entry_id": entry_id,
            "list_id": f"{run_id}-list",
            "list_kind": "bolo",
            "pattern": plate_for(i),
            "match_type": "exact",
            "max_distance": 0,
            "reason": "bench",
            "priority": "high",
            "camera_ids": [],
            "zones": [],
            "valid_from": None,
            "valid_until": None,
            "owner": "bench",
            "updated_at": now_ms(),
        }
        out.append((entry_id.encode(), serde.encode("bolo_entry", rec, subject=f"{topic}-value")))
    return out


def erasure_requests(
    run_id: str, n: int, serde: AvroSerde, topic: str, key: str
) -> list[tuple[bytes, bytes]]:
    """``n`` plate erasures of plates the load never reads: nothing is erased, but with a ledger
    that is not empty the sink checks every record it stores against it (the cost measured)."""
    from platestream.privacy.erasure import plate_request

    out = []
    for i in range(n):
        rec = plate_request(f"ZZ{run_id[-6:]}{i}", key=key, actor="bench")
        value = serde.encode("erasure_request", rec, subject=f"{topic}-value")
        out.append((rec["erasure_id"].encode(), value))
    return out
