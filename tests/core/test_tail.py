"""`platestream topics tail` against the local stack: every catalogue topic decodes to JSON,
with its key and headers, from the beginning or only what arrives after the start."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastavro.utils import generate_one

from platestream import topics as catalogue
from platestream.kafka import make_producer
from platestream.serde import SCHEMA_DIR, AvroSerde, load_schema_file, read_schema
from platestream.settings import CommonSettings
from platestream.tail import TailOptions, jsonable, tail
from platestream.tracing import record_headers, trace_id

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def _record(schema: str, seed: int) -> dict[str, Any]:
    random.seed(seed)  # fastavro's generator draws from `random`: the same record every run
    return generate_one(read_schema(load_schema_file(SCHEMA_DIR / f"{schema}.avsc")))  # type: ignore[return-value]


def _produce(settings: CommonSettings, serde: AvroSerde, seed: int) -> dict[str, dict]:
    producer = make_producer(settings)
    sent = {}
    for i, t in enumerate(catalogue.ALL):
        topic = settings.topic(t.name)
        rec = _record(t.schema, seed + i)
        value = serde.encode(t.schema, rec, subject=f"{topic}-value")
        producer.produce(topic, key=f"key-{i}".encode(), value=value, headers=record_headers(topic))
        sent[topic] = serde.decode(value)  # as read back (float fields are 32-bit)
    assert producer.flush(30) == 0
    return sent


def _cli_env(settings: CommonSettings) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("PLATESTREAM_")}
    return {
        **base,
        "PLATESTREAM_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "PLATESTREAM_TOPIC_PREFIX": settings.topic_prefix,
        "PLATESTREAM_KAFKA_LOG_LEVEL": "0",
    }


def test_every_topic_decodes_to_json(settings: CommonSettings) -> None:
    serde = AvroSerde()
    sent = _produce(settings, serde, seed=1)

    def first_record(topic: str) -> list[dict[str, Any]]:
        opts = TailOptions(from_beginning=True, max_records=1, idle_exit_s=15)
        return list(tail(settings, topic, opts))

    # one tail per topic, side by side: each waits mostly on its consumer's first fetch
    topics = [settings.topic(t.name) for t in catalogue.ALL]
    with ThreadPoolExecutor(max_workers=8) as pool:
        records = dict(zip(topics, pool.map(first_record, topics), strict=True))
    for i, t in enumerate(catalogue.ALL):
        topic = settings.topic(t.name)
        got = records[topic]
        assert len(got) == 1, topic
        rec = got[0]
        assert rec["schema"] == t.schema and rec["key"] == f"key-{i}"
        assert json.loads(json.dumps(rec["value"])) == jsonable(sent[topic]), topic
        assert rec["headers"]["event-type"].startswith("io.platestream.")
        assert trace_id(rec["headers"]["traceparent"])


def test_cli_json_lines_and_from_the_end(settings: CommonSettings) -> None:
    serde = AvroSerde()
    sent = _produce(settings, serde, seed=100)
    topic = settings.topic(catalogue.PLATE_READS.name)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "platestream.cli",
            "topics",
            "tail",
            catalogue.PLATE_READS.name,
            "--from-beginning",
            "--json",
            "--idle-exit",
            "5",
        ],
        cwd=REPO,
        env=_cli_env(settings),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["topic"] for line in lines] == [topic]
    assert lines[0]["value"] == jsonable(sent[topic])
    assert lines[0]["headers"]["event-type"] == "io.platestream.anpr.PlateRead"

    # without --from-beginning only what arrives after the start is shown
    stop = threading.Event()
    seen: list[dict] = []

    def follow() -> None:
        for rec in tail(
            settings, topic, TailOptions(max_records=1, idle_exit_s=30), stop=stop.is_set
        ):
            seen.append(rec)

    reader = threading.Thread(target=follow)
    reader.start()
    try:
        threading.Event().wait(3.0)  # assigned at the end by now
        later = _produce(settings, serde, seed=200)
        reader.join(40)
    finally:
        stop.set()
        reader.join(5)
    assert [r["value"] for r in seen] == [jsonable(later[topic])]


def test_tail_with_the_broker_down_is_one_error() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "platestream.cli", "topics", "tail", "anpr.frames.v1"],
        cwd=REPO,
        env={
            **_cli_env(CommonSettings(kafka_bootstrap="127.0.0.1:9")),
            "PLATESTREAM_KAFKA_LOG_LEVEL": "6",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: cannot reach the Kafka broker at 127.0.0.1:9 within 10 s (start it with "
        "`platestream stack up`, or set PLATESTREAM_KAFKA_BOOTSTRAP)"
    ]


def test_an_erased_plate_is_shown_by_its_place_only(settings: CommonSettings) -> None:
    from platestream.privacy.erasure import plate_request

    serde = AvroSerde()
    producer = make_producer(settings)
    reads = settings.topic(catalogue.PLATE_READS.name)
    audit = settings.topic(catalogue.AUDIT.name)
    erasure_ts = 1_900_000_000_000

    def read(plate: str, ts: int, seed: int) -> bytes:
        rec = {**_record("plate_read", seed), "plate": plate, "plate_raw": plate, "ts": ts}
        rec["candidates"] = [{"plate": plate, "confidence": 0.9}]
        return serde.encode("plate_read", rec, subject=f"{reads}-value")

    produced = [
        read("ERASE1", erasure_ts - 1000, 1),  # before the erasure: erased
        read("KEEP22", erasure_ts - 1000, 2),  # another plate: shown
        read("ERASE1", erasure_ts + 1000, 3),  # a later sighting: shown
    ]
    for value in produced:
        producer.produce(reads, key=b"cam-1", value=value)
    search = {
        **_record("audit_record", 4),
        "ts": erasure_ts - 500,
        "query": json.dumps({"plate": "ERASE1", "mode": "exact"}),
    }
    producer.produce(audit, value=serde.encode("audit_record", search, subject=f"{audit}-value"))
    request = plate_request("erase1", key=settings.privacy_subject_key, actor="test", ts=erasure_ts)
    erasures = settings.topic(catalogue.ERASURES.name)
    producer.produce(
        erasures,
        key=request["subject_id"].encode(),
        value=serde.encode("erasure_request", request, subject=f"{erasures}-value"),
    )
    assert producer.flush(30) == 0

    opts = TailOptions(from_beginning=True, max_records=3, idle_exit_s=15)
    got = list(tail(settings, reads, opts))
    assert got[0] == {
        "topic": reads,
        "partition": got[0]["partition"],
        "offset": got[0]["offset"],
        "timestamp": got[0]["timestamp"],
        "erased": True,
    }
    assert [r["value"]["plate"] for r in got[1:]] == ["KEEP22", "ERASE1"]
    assert "ERASE1" not in json.dumps(got[0])
    (logged,) = tail(
        settings, audit, TailOptions(from_beginning=True, max_records=1, idle_exit_s=15)
    )
    assert json.loads(logged["value"]["query"])["plate"] == "[erased]"
    assert logged["value"]["actor"] == search["actor"]
