"""Every consumer's record handler (enrich, sink, detect, notify) fed schema-valid extreme records:
each one is handled or rejected as bad input (dead letter), within a per-record time budget."""

from __future__ import annotations

import threading
from typing import Any

import cv2
import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from minio.helpers import check_object_name

from platestream.bench.inmemory import InMemoryMessage as _Msg
from platestream.errors import BadInputError, SerdeError
from services.detect.metrics import DetectMetrics
from services.detect.processor import DetectProcessor
from services.detect.settings import DetectSettings
from services.detect.types import Box, FrameResult, PlateResult, Reading
from services.enrich.bolo import Entry, Watchlists
from services.enrich.notify import Outcome, alert_json, sign, targets_for
from services.enrich.processor import EnrichProcessor
from services.enrich.settings import EnrichSettings, Route
from services.sink.rows import BY_TABLE, Source
from services.sink.s3_sink import IMAGE_TOPICS, S3Sink
from services.sink.settings import SinkSettings
from tests.enrich.helpers import plate_read
from tests.security.avro_strategies import EXAMPLES, SERDE, encoded, fuzz, records, tagged

REJECTIONS = (BadInputError, SerdeError)
JPEG = cv2.imencode(".jpg", np.full((16, 48, 3), 200, np.uint8))[1].tobytes()


class DeadLetters:
    """Collects what a stage dead-letters; anything but a bad-input rejection fails the test."""

    def __init__(self) -> None:
        self.count = 0

    def record(self, _msg: Any, exc: BaseException) -> None:
        assert isinstance(exc, REJECTIONS), f"dead-lettered as a crash: {exc!r}"
        self.count += 1


class Producer:
    def __init__(self) -> None:
        self.sent = 0

    def produce(self, topic: str, key: bytes | None = None, value: bytes | None = None, **_: Any):  # type: ignore[no-untyped-def]
        assert value
        self.sent += 1

    def poll(self, _t: float = 0) -> int:
        return 0

    def flush(self, _t: float = 0) -> int:
        return 0


def watchlists() -> Watchlists:
    wl = Watchlists()
    for rec in (
        {"entry_id": "x", "pattern": "AB123", "match_type": "exact"},
        {"entry_id": "w", "pattern": "A*1?", "match_type": "wildcard"},
        {"entry_id": "r", "pattern": "(A|AA)*[0-9]+", "match_type": "regex"},
        {"entry_id": "f", "pattern": "ABC123", "match_type": "fuzzy", "max_distance": 2},
        {"entry_id": "c", "pattern": "A", "match_type": "exact", "camera_ids": [".."]},
    ):
        wl.upsert(Entry.from_record({"list_id": "l", **rec}))
    return wl


@pytest.mark.parametrize("examples", EXAMPLES)
def test_enrich_handles_or_dead_letters_every_record(examples: int) -> None:
    clock = [1_700_000_000_000]
    dlq, producer = DeadLetters(), Producer()
    proc = EnrichProcessor(
        settings=EnrichSettings(enrich_metrics_port=0, enrich_gap_ms=1000),
        consumer=None,  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        serde=SERDE,
        watchlists=watchlists(),
        dead_letters=dlq,  # type: ignore[arg-type]
        clock=lambda: clock[0],
    )
    topics = {
        "plate_read": proc.reads_topic,
        "camera_event": proc.camera_events_topic,
        "correction": proc.corrections_topic,
    }
    offset = [0]

    # Random extreme records are mostly refused; one ordinary read makes sure the read path (a
    # passage, its event) is always exercised, whatever the draw (a fresh clone once drew none).
    ordinary = SERDE.encode("plate_read", plate_read("r-ok", "cam-ok", "ABC1234", clock[0]))

    @given(tagged(sorted(topics)))
    @example(("plate_read", ordinary))
    @fuzz(examples, "enrich: reads, camera events, corrections")
    def handle(item: tuple[str, bytes]) -> None:
        name, value = item
        offset[0] += 1
        proc.process([_Msg(topics[name], 0, offset[0], value, b"k")])  # type: ignore[list-item]
        clock[0] += 60_000  # every passage is due: its event is built and encoded now
        proc.close_due()

    handle()
    assert proc.stats.reads > 0 and dlq.count > 0 and producer.sent > 0, proc.stats.as_dict()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_sink_rows_are_built_or_refused_for_every_record(examples: int) -> None:
    maps = sorted(BY_TABLE.values(), key=lambda m: m.table)

    @given(st.one_of(*(st.tuples(st.just(m), records(m.schema)) for m in maps)))
    @fuzz(examples, "sink: ClickHouse row building")
    def build(item: tuple[Any, dict[str, Any]]) -> None:
        mapping, rec = item
        decoded = SERDE.decode(SERDE.encode(mapping.schema, rec))
        try:
            mapping.validate(decoded)
        except BadInputError:
            return
        cols = mapping.columns([decoded], [Source("t", 0, 1)])
        assert all(len(v) == 1 for v in cols.values())

    build()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_s3_sink_writes_or_dead_letters_every_record(examples: int) -> None:
    dlq = DeadLetters()
    sink = S3Sink(
        settings=SinkSettings(sink_s3_frames=True),
        consumer=None,  # type: ignore[arg-type]
        s3=None,  # type: ignore[arg-type]
        serde=SERDE,
        dead_letters=dlq,  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
        stop=threading.Event(),
    )
    by_schema = {schema: topic for topic, schema in sink.schemas.items()}
    schemas = sorted({t.schema for t in IMAGE_TOPICS} | {"frame"})

    @given(tagged(schemas))
    @fuzz(examples, "sink: S3 collect (keys, metadata)")
    def collect(item: tuple[str, bytes]) -> None:
        name, value = item
        puts, _offsets = sink.collect([_Msg(by_schema[name], 0, 1, value, b"k")])  # type: ignore[list-item]
        for put in puts:
            check_object_name(put.slot.key)  # the S3 client would take it: no endless retry

    collect()
    sink._pool.shutdown()


@pytest.mark.parametrize("examples", EXAMPLES)
def test_notify_builds_every_delivery_of_every_alert(examples: int) -> None:
    routes = [
        Route(channel="webhook", target="http://127.0.0.1:9/hook", secret="s" * 16),
        Route(channel="kafka", target="alerts-out", lists=["stolen"]),
        Route(channel="mqtt", target="anpr/alerts", min_priority="high"),
    ]

    @given(encoded("bolo_alert"))
    @fuzz(examples, "notify: alert deliveries")
    def deliver(value: bytes) -> None:
        alert = SERDE.decode(value)
        for route in targets_for(alert, routes):
            body = alert_json(alert)
            assert sign("secret", "1700000000", body).startswith("sha256=")
            str(alert.get("camera_id") or alert.get("alert_id") or "").encode()  # kafka key
            rec = Outcome(route.channel, route.target, "delivered", 1).record(alert["alert_id"])
            SERDE.encode("alert_delivery", rec)

    deliver()


class Pipeline:
    """Stands in for the models: one plate read in every frame the stage could decode."""

    name = "fuzz"

    def process(self, _img: Any, _formats: Any) -> FrameResult:
        reading = Reading(text="AB123", confidence=0.9, char_confidences=[0.9] * 5)
        plate = PlateResult(Box(1, 2, 30, 10), 0.8, reading, crop_jpeg=JPEG, crop_size=(30, 10))
        return FrameResult(plates=[plate], timings_ms={"detect": 1.0})


class Bucket:
    """Takes puts the way the S3 client does: refuses keys it cannot send."""

    def put_object(self, _bucket: str, key: str, *_a: Any, **_k: Any) -> None:
        check_object_name(key)

    def get_object(self, _bucket: str, key: str) -> Any:
        raise BadInputError(f"claim-checked frame {key} is not in the bucket: NoSuchKey")


@pytest.mark.parametrize("examples", EXAMPLES)
def test_detect_reads_or_dead_letters_every_frame(examples: int) -> None:
    proc = DetectProcessor(
        settings=DetectSettings(),
        consumer=None,  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]
        serde=SERDE,
        s3=Bucket(),
        pipeline=Pipeline(),  # type: ignore[arg-type]
        metrics=DetectMetrics(),
        dead_letters=DeadLetters(),  # type: ignore[arg-type]
        stop=threading.Event(),
    )
    image = st.one_of(st.just(JPEG), st.binary(max_size=64))
    frames = st.builds(
        lambda f, data: {**f, "image": {**f["image"], "data": data}}, records("frame"), image
    )
    reads = [0]

    @given(frames)
    @fuzz(examples, "detect: frames")
    def handle(frame: dict[str, Any]) -> None:
        msg = _Msg(proc.frames_topic, 0, 1, SERDE.encode("frame", frame), b"k")
        try:
            out = proc._process(msg)  # type: ignore[arg-type]
        except REJECTIONS:
            return
        for _key, value in out:
            SERDE.decode(value)
        reads[0] += len(out)

    handle()
    proc._pool.shutdown()
    assert reads[0] > 0
