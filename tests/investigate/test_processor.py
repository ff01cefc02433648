"""The clone detector's processor: on the real local stack (cameras and plate events in, anomalies
out) and on in-memory records (its counters and metrics)."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack

import pytest

from platestream import topics as catalogue
from platestream.timeutil import now_ms
from services.investigate.bench import plate_events
from tests.enrich.helpers import Pipe, TopicReader


def camera(camera_id: str, site: str, lat: float, lon: float) -> dict:
    return {
        "camera_id": camera_id,
        "name": camera_id,
        "site": site,
        "lat": lat,
        "lon": lon,
        "updated_at": now_ms(),
    }


def event(i: int, camera_id: str, plate: str, ts: int, conf: float = 0.95) -> dict:
    rec = plate_events(1, 1, seed=i)[0]
    return {
        **rec,
        "camera_id": camera_id,
        "plate": plate,
        "ts": ts,
        "confidence": conf,
        "variants": [plate],
    }


@pytest.mark.integration
def test_processor_emits_a_clone_with_both_sightings_and_dead_letters_garbage(settings) -> None:
    from services.investigate.cli import build_processor
    from services.investigate.settings import AnomalySettings

    s = AnomalySettings(
        **{**settings.model_dump(), "anomaly_poll_timeout_s": 0.02, "anomaly_linger_ms": 1}
    )
    pipe = Pipe(s)
    for cam in (
        camera("cam-w1", "west", 51.50, -0.20),
        camera("cam-w2", "west", 51.50, -0.05),  # 10.4 km away but the same site
        camera("cam-e", "east", 51.50, 0.20),  # 27.7 km east of cam-w1
    ):
        pipe.send(catalogue.CAMERAS.name, "camera", cam["camera_id"], cam)
    t = now_ms() - 600_000
    pipe.send(
        catalogue.PLATE_EVENTS.name, "plate_event", "cam-w1", event(1, "cam-w1", "ABC1234", t)
    )
    pipe.send(
        catalogue.PLATE_EVENTS.name, "plate_event", "cam-w2", event(2, "cam-w2", "XYZ9876", t)
    )
    pipe.send(
        catalogue.PLATE_EVENTS.name,
        "plate_event",
        "cam-w1",
        event(3, "cam-w1", "XYZ9876", t + 5000),
    )
    pipe.send(catalogue.PLATE_EVENTS.name, "plate_event", "cam-e", b"\x00garbage")
    pipe.send(
        catalogue.PLATE_EVENTS.name,
        "plate_event",
        "cam-e",
        event(4, "cam-e", "ABC1234", t + 120_000),
    )
    pipe.flush()

    stop = threading.Event()
    anomalies = TopicReader(s, catalogue.ANOMALIES.name)
    dlq = TopicReader(s, catalogue.dead_letter_topic("anomalies").name)
    with ExitStack() as stack:
        proc = build_processor(s, stack)
        thread = threading.Thread(target=proc.run, args=(stop,), daemon=True)
        thread.start()
        try:
            [a] = anomalies.wait_for(lambda r: len(r) >= 1, timeout=40)
            dlq.wait_for(lambda r: len(r) >= 1, timeout=20)
            deadline = time.monotonic() + 20
            while proc.stats.events < 4 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert anomalies.settle(1.0) == [a]  # the same-site pair raised nothing
        finally:
            stop.set()
            thread.join(30)
    assert a["kind"] == "clone" and a["plate"] == "ABC1234" and a["camera_id"] == "cam-e"
    assert (a["first"]["camera_id"], a["second"]["camera_id"]) == ("cam-w1", "cam-e")
    assert (a["first"]["ts"], a["second"]["ts"]) == (t, t + 120_000)
    assert a["distance_km"] == pytest.approx(27.7, abs=0.05)
    assert a["speed_kmh"] == pytest.approx(27.68 / (150 / 3600), abs=0.5)  # 120 s + 30 s skew
    assert a["first"]["site"] == "west" and a["second"]["lat"] == 51.50
    assert a["emitted_at"] >= a["event_logged_at"] > 0
    st = proc.stats.as_dict()
    assert (st["events"], st["dead_letters"], st["clones"], st["misreads"]) == (4, 1, 1, 0)
    assert dlq.records[0]["stage"] == "anomalies"
    anomalies.close()
    dlq.close()


def test_processor_counts_and_metrics_without_a_broker() -> None:
    from platestream.bench.inmemory import CountingProducer as _CountingProducer
    from platestream.bench.inmemory import InMemoryMessage as _Msg
    from platestream.serde import AvroSerde
    from services.enrich.enrichment import Cameras
    from services.investigate.metrics import _Collector
    from services.investigate.processor import AnomalyProcessor
    from services.investigate.settings import AnomalySettings

    serde = AvroSerde()
    cameras = Cameras()
    for cam in (camera("cam-w1", "west", 51.50, -0.20), camera("cam-e", "east", 51.50, 0.20)):
        cameras.apply(cam["camera_id"], cam)
    producer = _CountingProducer()
    proc = AnomalyProcessor(
        settings=AnomalySettings(),
        consumer=None,  # type: ignore[arg-type]
        producer=producer,  # type: ignore[arg-type]
        serde=serde,
        cameras=cameras,
    )
    t = 1_767_225_600_000
    recs = [
        event(1, "cam-w1", "ABC1234", t),
        event(2, "cam-e", "ABC1234", t + 60_000),
        event(3, "cam-e", "LOW0001", t, conf=0.3),
        event(4, "cam-unknown", "XYZ9876", t),
        {**event(5, "cam-e", "ABC1234", t), "version": 1},
        event(6, "cam-e", "ABC1234", 12_345),  # 1970: dead-lettered
    ]
    msgs = [
        _Msg(proc.events_topic, 0, i, serde.encode("plate_event", r), b"k", t)
        for i, r in enumerate(recs)
    ]
    proc.process(msgs)  # type: ignore[arg-type]
    st = proc.stats.as_dict()
    assert (st["events"], st["clones"], st["no_position"], st["corrections"]) == (4, 1, 1, 1)
    assert st["dead_letters"] == 1 and producer.count == 2  # the anomaly and the dead letter
    metrics = {m.name: m.samples[0].value for m in _Collector(proc).collect()}
    assert metrics["platestream_anomalies_clones"] == 1
    assert metrics["platestream_anomalies_low_confidence"] == 1
    assert metrics["platestream_anomalies_plates_remembered"] == 1


def test_a_skipped_offset_range_is_read_back_before_the_record_after_it() -> None:
    """The clone pair's first sighting sits in offsets the consumer skipped: it is read back and
    checked first, so the clone is still found, and the commit covers the whole range."""
    from platestream.bench.inmemory import CountingProducer as _CountingProducer
    from platestream.bench.inmemory import InMemoryMessage as _Msg
    from platestream.serde import AvroSerde
    from services.enrich.enrichment import Cameras
    from services.investigate.processor import AnomalyProcessor
    from services.investigate.settings import AnomalySettings

    serde = AvroSerde()
    cameras = Cameras()
    for cam in (camera("cam-w1", "west", 51.50, -0.20), camera("cam-e", "east", 51.50, 0.20)):
        cameras.apply(cam["camera_id"], cam)
    t = 1_767_225_600_000
    asked: list[tuple[str, int, range]] = []

    def read_back(topic: str, partition: int, offsets: range) -> list[_Msg]:
        asked.append((topic, partition, offsets))
        first = serde.encode("plate_event", event(1, "cam-w1", "ABC1234", t))
        return [_Msg(topic, partition, o, first if o == 3 else b"\0junk", b"k", t) for o in offsets]

    proc = AnomalyProcessor(
        settings=AnomalySettings(),
        consumer=None,  # type: ignore[arg-type]
        producer=_CountingProducer(),  # type: ignore[arg-type]
        serde=serde,
        cameras=cameras,
        read_back=read_back,  # type: ignore[arg-type]
    )
    topic = proc.events_topic
    second = serde.encode("plate_event", event(2, "cam-e", "ABC1234", t + 60_000))
    proc.process([_Msg(topic, 0, 2, second, b"k", t)])  # type: ignore[list-item]
    proc.process([_Msg(topic, 0, 5, second, b"k", t)])  # type: ignore[list-item]
    assert asked == [(topic, 0, range(3, 5))]
    assert proc.stats.clones >= 1 and proc.stats.dead_letters == 1  # offset 4 was junk
    assert proc.offsets.next_offsets() == {(topic, 0): 6}
    assert (proc.offsets.gaps, proc.offsets.gap_reads) == (1, 2)
