"""The sink's pass-through: ClickHouse decodes record bytes into the rows the Python path builds,
and any record a check refuses sends the whole batch the per-record way, nothing written."""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import fastavro
import pytest

from platestream.privacy.erasure import ErasureLedger, hmac_pads, subject_id
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from services.sink import avro_container, passthrough, samples
from services.sink.clickhouse_sink import ClickHouseSink
from services.sink.rows import BY_TABLE, Source
from services.sink.service import build_clickhouse_sink
from services.sink.writer import TableWriter
from tests.sink.helpers import dead_letters, migrated, produce, sink_settings, wait_until

pytestmark = pytest.mark.integration

SERDE = AvroSerde()


def _reads(base: int) -> list[dict[str, Any]]:
    out = []
    for i in range(12):
        r = samples.plate_read(i, base_ts=base, s3_key=f"crops/cam/{i}.jpg" if i % 3 == 0 else None)
        if i % 4 == 1:
            r |= {"plate_raw": None, "detection_confidence": None, "received_at": None}
            r |= {"vehicle_box": {"x": 5, "y": 6, "w": 70, "h": 40}, "lane": 2}
        if i % 5 == 2:
            r |= {"candidates": [], "char_confidences": [], "plate": "ÄÖ12", "direction": "leaving"}
        if i == 7:  # a reference with neither key nor bytes has no slot: no key
            r["crop"] = samples.image("plate", data=None)
        out.append(r)
    return out


def _events(base: int) -> list[dict[str, Any]]:
    out = []
    for i in range(12):
        e = samples.plate_event(i, base_ts=base, version=1 + i % 2)
        if i % 3 == 0:
            e["best_crop"] = samples.image("plate", data=None, s3_key=f"crops/c/{i}.jpg")
            e["images"] = [
                samples.image("vehicle", data=None, s3_key=f"images/c/{i}-v.jpg"),
                samples.image("", data=None, s3_key=f"images/c/{i}-x.jpg"),
            ]
        if i % 3 == 1:  # no best crop key: the first image's key stands in (rows.py)
            e["best_crop"] = samples.image("plate", data=None)
            e["images"] = [samples.image("scene", data=None, s3_key=f"images/c/{i}-s.jpg")]
        if i == 5:
            e |= {"access_status": "", "variants": ["ABC123", "A8C123"], "watchlist_hits": ["l1"]}
            e |= {"lat": None, "lon": None, "received_at": None, "correction_id": "c-5"}
        out.append(e)
    return out


def _writer(settings: Any, table: str, database: str) -> TableWriter:
    s = sink_settings(settings, clickhouse_database=database)
    return TableWriter(client=migrated(s), database=database, mapping=BY_TABLE[table])


def _rows(writer: TableWriter, order: str) -> list[tuple[Any, ...]]:
    return writer.client.query(
        f"SELECT * EXCEPT (inserted_at) FROM `{writer.database}`.`{writer.mapping.table}` "
        f"ORDER BY {order}"
    ).result_rows


def _fast(writer: TableWriter, schema: str, values: list[bytes]) -> passthrough.PassThroughInsert:
    sid = int.from_bytes(values[0][1:5], "big")
    assert SERDE.current(sid) == schema
    fast = writer.fast_path(sid, SERDE.written(schema))
    assert fast is not None
    return fast


@pytest.mark.parametrize(
    ("table", "schema", "make", "order"),
    [
        ("plate_reads", "plate_read", _reads, "read_id"),
        ("plate_events", "plate_event", _events, "event_id, version"),
    ],
)
def test_clickhouse_builds_the_rows_the_python_path_builds(
    settings, table, schema, make, order
) -> None:
    recs = make(now_ms() - 3_600_000)
    values = [SERDE.encode(schema, r) for r in recs]
    sources = [Source("anpr.test.v1", i % 3, 100 + i) for i in range(len(recs))]
    python = _writer(settings, table, "pt_python")
    fast = _writer(settings, table, "pt_fast")
    result = python.insert([SERDE.decode(v) for v in values], sources)
    assert result.inserted == len(recs) and not result.rejected
    assert fast.insert_raw(_fast(fast, schema, values), values, sources)
    expected = _rows(python, order)
    assert len(expected) == len(recs)
    assert _rows(fast, order) == expected


def _patched(value: bytes, old: bytes, new: bytes) -> bytes:
    assert old in value
    return value.replace(old, new, 1)  # the first: the plate, before plate_raw


def _bad_reads(base: int) -> dict[str, bytes]:
    good = samples.plate_read(0, base_ts=base)
    enc = lambda r: SERDE.encode("plate_read", r)  # noqa: E731
    plate = good["plate"].encode()
    return {
        "time before 2000": enc({**good, "ts": 1000}),
        "camera id": enc({**good, "camera_id": "../x"}),
        "plate too long": enc({**good, "plate": "A" * 40}),
        "inline crop": enc({**good, "crop": samples.image("plate")}),
        "invalid UTF-8": _patched(enc(good), b"\x0e" + plate, b"\x0e" + b"\xff" + plate[1:]),
        "trailing bytes": enc(good) + b"\x02\x02",
        "truncated": enc(good)[:-3],
    }


@pytest.mark.parametrize("case", list(_bad_reads(now_ms())))
def test_one_bad_record_sends_the_batch_the_slow_way_and_writes_nothing(settings, case) -> None:
    base = now_ms() - 3_600_000
    good = [SERDE.encode("plate_read", samples.plate_read(i, base_ts=base)) for i in range(1, 6)]
    values = [*good[:2], _bad_reads(base)[case], *good[2:]]
    writer = _writer(settings, "plate_reads", "pt_refused")
    writer.client.command(f"TRUNCATE TABLE `{writer.database}`.plate_reads")
    sources = [Source("anpr.test.v1", 0, i) for i in range(len(values))]
    assert not writer.insert_raw(_fast(writer, "plate_read", good), values, sources)
    assert _rows(writer, "read_id") == []
    # the rest of the same batch goes in on its own
    assert writer.insert_raw(_fast(writer, "plate_read", good), good, sources[:5])
    assert len(_rows(writer, "read_id")) == 5


def test_the_container_reads_back_as_the_records_with_their_positions() -> None:
    recs = _reads(now_ms())
    values = [SERDE.encode("plate_read", r) for r in recs]
    header = avro_container.envelope(SERDE.written("plate_read"))
    end = b"12345678"
    body = avro_container.container(
        header, [avro_container.row(3, 10**12 + i, v, end) for i, v in enumerate(values)]
    )
    back = list(fastavro.reader(io.BytesIO(body)))
    assert [(r["_partition"], r["_offset"], r["_end"]) for r in back] == [
        (3, 10**12 + i, end) for i in range(len(recs))
    ]
    assert [r["plate"] for r in back] == [r["plate"] for r in recs]
    assert back[0]["ts"] == recs[0]["ts"]  # timestamps stay epoch milliseconds


@contextmanager
def running_sink(s: Any, **kwargs: Any) -> Iterator[ClickHouseSink]:
    stop = threading.Event()
    with ExitStack() as stack:
        sink = build_clickhouse_sink(s, stop, stack, **kwargs)
        thread = threading.Thread(target=sink.run, name="test-sink", daemon=True)
        thread.start()
        try:
            yield sink
        finally:
            stop.set()
            thread.join(30)
            assert not thread.is_alive(), "sink did not stop within 30 s"


def test_the_sink_passes_good_records_through_and_dead_letters_the_bad(settings) -> None:
    s = sink_settings(settings, sink_passthrough_min_rows=1)  # this test's batches are small
    ch = migrated(s)
    db = s.clickhouse_database
    base = now_ms() - 3_600_000
    first = [samples.plate_read(10_000 + i, base_ts=base) for i in range(50)]
    produce(s, "plate_reads", first)
    with running_sink(s) as sink:
        wait_until(
            lambda: (
                ch.command(
                    f"SELECT count() FROM `{db}`.plate_reads WHERE read_id IN {{ids:Array(String)}}",
                    parameters={"ids": [r["read_id"] for r in first]},
                )
                == 50
            ),
            60,
            "the first 50 reads",
        )
        wait_until(lambda: sink.stats.passed_through >= 50, 10, "50 reads passed through")
        bad = _bad_reads(base)["camera id"]
        second = [samples.plate_read(20_000 + i, base_ts=base) for i in range(20)]
        produce(s, "plate_reads", [*second[:10], bad, *second[10:]])
        wait_until(
            lambda: (
                ch.command(
                    f"SELECT count() FROM `{db}`.plate_reads WHERE read_id IN {{ids:Array(String)}}",
                    parameters={"ids": [r["read_id"] for r in second]},
                )
                == 20
            ),
            60,
            "the 20 good reads of the batch with a bad one",
        )
        wait_until(lambda: sink.stats.fallbacks >= 1, 10, "the batch sent to Python counted")
    reasons = [d["error"] for d in dead_letters(s, 1)]
    assert len(reasons) == 1 and "camera_id" in reasons[0], reasons


def test_small_batches_are_decoded_in_python(settings) -> None:
    s = sink_settings(settings)  # the default minimum: 500 records of one schema
    ch = migrated(s)
    base = now_ms() - 3_600_000
    reads = [samples.plate_read(30_000 + i, base_ts=base) for i in range(40)]
    produce(s, "plate_reads", reads)
    with running_sink(s) as sink:
        wait_until(
            lambda: (
                ch.command(
                    f"SELECT count() FROM `{s.clickhouse_database}`.plate_reads "
                    "WHERE read_id IN {ids:Array(String)}",
                    parameters={"ids": [r["read_id"] for r in reads]},
                )
                == 40
            ),
            60,
            "the 40 reads",
        )
        assert sink.stats.passed_through == 0 and sink.stats.fallbacks == 0


KEY = "test-subject-key"
PADS = tuple(pad.hex() for pad in hmac_pads(KEY))


def _ledger(*plates: str) -> ErasureLedger:
    ledger = ErasureLedger(key=KEY)
    for plate in plates:
        ledger.subjects[subject_id(plate, KEY)] = now_ms()
    return ledger


@pytest.mark.parametrize(
    ("case", "change", "passes"),
    [
        ("no plate of the batch erased", {}, True),
        ("the plate", {"plate": "ERASED1"}, False),
        ("a candidate", {"candidates": [{"plate": "ERASED1", "confidence": 0.2}]}, False),
        ("the raw text, normalised", {"plate_raw": "erased-1"}, False),
        ("raw text that is not ASCII (Python decides)", {"plate_raw": "ÄB 12"}, False),
    ],
)
def test_the_statement_sends_a_batch_the_ledger_may_erase_to_python(
    settings, case, change, passes
) -> None:
    base = now_ms() - 3_600_000
    recs = [samples.plate_read(40_000 + i, base_ts=base) for i in range(5)]
    recs[2] = {**recs[2], **change}
    values = [SERDE.encode("plate_read", r) for r in recs]
    writer = _writer(settings, "plate_reads", "pt_erased")
    ledger = _ledger("ERASED1", "OTHER22")
    check = passthrough.erasure_check("plate_reads", list(ledger.subjects), [], PADS)
    sources = [Source("anpr.test.v1", 0, 500 + i) for i in range(5)]
    assert writer.insert_raw(_fast(writer, "plate_read", values), values, sources, check) is passes


def test_the_statement_checks_erased_events_and_passage_variants(settings) -> None:
    base = now_ms() - 3_600_000
    events = [samples.plate_event(50_000 + i, base_ts=base) for i in range(4)]
    writer = _writer(settings, "plate_events", "pt_erased")
    sources = [Source("anpr.test.v1", 0, 900 + i) for i in range(4)]
    cases = [
        ([], [], True),
        ([events[1]["plate"]], [], False),
        ([], [events[3]["event_id"]], False),
        (["ERASED1"], [], True),
    ]
    with_variant = [{**events[0], "variants": ["ERASED1"]}, *events[1:]]
    for subjects, ids, passes in cases:
        sids = [subject_id(p, KEY) for p in subjects]
        values = [SERDE.encode("plate_event", e) for e in events]
        check = passthrough.erasure_check("plate_events", sids, ids, PADS)
        fast = _fast(writer, "plate_event", values)
        assert writer.insert_raw(fast, values, sources, check) is passes, (subjects, ids)
    values = [SERDE.encode("plate_event", e) for e in with_variant]
    check = passthrough.erasure_check("plate_events", [subject_id("ERASED1", KEY)], [], PADS)
    assert not writer.insert_raw(_fast(writer, "plate_event", values), values, sources, check)


def test_with_erasures_in_the_ledger_the_sink_still_passes_records_through(settings) -> None:
    s = sink_settings(settings, sink_passthrough_min_rows=1)
    ch = migrated(s)
    db = s.clickhouse_database
    base = now_ms() - 3_600_000
    reads = [samples.plate_read(60_000 + i, base_ts=base) for i in range(30)]
    reads[7] = {**reads[7], "plate": "ERASED1"}
    kept = [r["read_id"] for i, r in enumerate(reads) if i != 7]
    produce(s, "plate_reads", reads)

    def stored(ids: list[str]) -> int:
        return int(
            ch.command(
                f"SELECT count() FROM `{db}`.plate_reads WHERE read_id IN {{ids:Array(String)}}",
                parameters={"ids": ids},
            )
        )

    with running_sink(s, erasures=_ledger("ERASED1")) as sink:
        wait_until(lambda: stored(kept) == 29, 60, "the 29 reads of plates not erased")
        # the counters move when the batch completes, just after its rows became visible
        wait_until(lambda: sink.stats.erased >= 1, 10, "the erased read counted")
        assert sink.stats.erased == 1 and sink.stats.fallbacks >= 1
        more = [samples.plate_read(61_000 + i, base_ts=base) for i in range(30)]
        produce(s, "plate_reads", more)
        wait_until(lambda: stored([r["read_id"] for r in more]) == 30, 60, "30 more reads")
        wait_until(lambda: sink.stats.passed_through >= 30, 10, "30 reads passed through")
    assert stored([reads[7]["read_id"]]) == 0
