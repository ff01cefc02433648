"""Erasure reaches the records no stage had read a plate from (issue 17), pure logic over an
in-memory key bucket. Dead letters (platestream/privacy/dead_letters.py): those of one stage and
second share a key no other record has, the plate is found in a payload however the device
spelled it, and puncturing the keys of the dead letters that mention it makes those (and those of
the same stage and second) stop opening, in the one tree that sealed them, and no others. Frames
(`shredding.shred_frames`): each under a key of its own, punctured when a read from it is erased,
in the frame trees only. On the real broker, through the sink's erasure loop:
tests/privacy/test_shredding_stack.py."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from platestream.privacy.dead_letters import (
    candidates,
    iter_candidates,
    key_id,
    latest_keys,
    mentions,
    texts_of,
)
from platestream.privacy.erasure import subject_id
from platestream.privacy.shredding import Shredded, kid_of, shred_frames
from platestream.serde import AvroSerde
from tests.privacy.test_shredding import ERASED, KEPT, KEY, MemoryBucket, _shredder, _unread


def _dead_letter(payload: bytes, error: str, second: int = 1) -> dict[str, Any]:
    letter = _unread(ERASED, 1)["dead_letter"]
    return {**letter, "value": payload, "error": error, "key": None, "ts": second * 1000 + 7}


def test_a_plate_is_found_however_a_device_spelled_it() -> None:
    for text in (
        '{"plate":"era5e01"}',
        "<licensePlate>ERA 5E01</licensePlate>",
        "plate=ERA-5E-01&camera=7",
        "read ＥＲＡ５Ｅ０１ at the gate",  # full-width letters, as NFKC folds them
    ):
        assert ERASED in candidates([text]), text
    assert ERASED not in candidates(["ERA5E0", "ERA 5 E 0 1 X"])  # four runs apart: not joined
    assert all(2 <= len(c) <= 16 for c in candidates(["A B " + "X" * 40 + " 12 34"]))


def test_the_dead_letters_of_a_stage_share_a_key_per_second_and_no_plate_names_it() -> None:
    serde = AvroSerde(shredder=_shredder(MemoryBucket()))
    plain = AvroSerde()

    def kid(second: int, stage: str = "ingest") -> str:
        letter = {**_dead_letter(b'{"plate":"ERA5E01"}', "bad", second), "stage": stage}
        got = key_id(plain.decode(serde.encode("dead_letter", letter)))
        assert got is not None
        return got

    assert kid(5) == kid(5) != kid(6)
    assert kid(5, "sink") != kid(5)
    plates = serde.encode("plate_read", _read(ERASED))
    assert plain.decode(plates)["plate"].split(":")[1] not in {kid(5), kid(6)}
    assert len({k.partition(".")[2] for k in (kid(5), kid(6))}) == 1  # one tree


def test_puncturing_the_dead_letters_that_mention_a_plate_spares_the_others() -> None:
    bucket = MemoryBucket()
    writer = AvroSerde(shredder=_shredder(bucket))
    letters = {
        "payload": _dead_letter(json.dumps({"plate": "era-5e01"}).encode(), "no camera", 1),
        "error": _dead_letter(b"\xff\xd8 binary", f"{ERASED[:3]} {ERASED[3:]} refused", 2),
        "same second": _dead_letter(b"nothing personal", "unparsable", 2),
        "kept": _dead_letter(json.dumps({"plate": KEPT}).encode(), "no camera", 3),
        "plain": _dead_letter(b"nothing personal", "unparsable", 4),
    }
    wires = {name: writer.encode("dead_letter", rec) for name, rec in letters.items()}
    plates = writer.encode("plate_read", {**_read(KEPT)})  # a plate's key in the same tree
    eraser = _shredder(bucket)
    subjects = {subject_id(ERASED, KEY)}
    kids, read = mentions(list(wires.values()), AvroSerde(), eraser, subjects)
    assert read == 5 and len(kids) == 2
    size = len(next(iter(bucket.objects.values())))
    assert eraser.keys.puncture_keys(kids) == 2
    assert eraser.keys.puncture_keys(kids) == 0  # idempotent
    assert len(bucket.objects) == 1  # punctured in the tree that sealed them, no new tree
    assert len(next(iter(bucket.objects.values()))) > size
    reader = AvroSerde(shredder=_shredder(bucket))  # a fresh stage, or a replay
    for name in ("payload", "error", "same second"):  # its neighbour in time goes with it
        with pytest.raises(Shredded):
            reader.decode(wires[name])
    for name in ("kept", "plain"):
        got = reader.decode(wires[name])
        assert (got["value"], got["error"]) == (letters[name]["value"], letters[name]["error"])
    assert reader.decode(plates)["plate"] == KEPT
    # erased already, or a record that is not a sealed dead letter: passed over, not an error
    again, read = mentions([*wires.values(), b"\x00garbage"], AvroSerde(), eraser, subjects)
    assert again == [] and read == 6
    # an erasure punctures at most so many keys, the dead letters read last (the older leave first)
    assert latest_keys(["a", "b", "a", "c"], 2) == ["b", "c"]
    assert latest_keys(["a", "b", "a"], 5) == ["a", "b"]
    assert texts_of({"error": "e", "value": b"v", "key": None}) == ["e", "v"]


def _read(plate: str) -> dict[str, Any]:
    from tests.privacy.test_shredding import _records

    return _records(plate, 9)["plate_read"]


def _frame(frame_id: str, camera: str = "cam-7", ts: int = 1_780_000_000_000) -> dict[str, Any]:
    return {**_unread(ERASED, 1)["frame"], "frame_id": frame_id, "camera_id": camera, "ts": ts}


def test_each_frame_has_a_key_and_erasing_a_read_shreds_its_frame_only() -> None:
    bucket = MemoryBucket()
    writer = AvroSerde(shredder=_shredder(bucket))
    plain = AvroSerde()
    now = int(time.time() * 1000)
    frames = {f: writer.encode("frame", _frame(f, ts=now - 60_000)) for f in ("f-1", "f-2", "f-3")}
    kids = {kid_of(plain.decode(w)["image"]["data"]) for w in frames.values()}
    assert len(kids) == 3  # a key per frame
    plates = writer.encode("plate_read", _read(KEPT))
    before = {name: len(body) for name, body in bucket.objects.items()}
    eraser = _shredder(bucket)
    # the erased reads came from f-1 (twice) and from a frame older than the topic keeps
    erased = [("cam-7", "f-1", now - 60_000), ("cam-7", "f-1", now - 50_000)]
    old = [("cam-7", "f-0", now - 3 * 86_400_000)]
    assert shred_frames(eraser, erased + old, now) == 1
    assert shred_frames(eraser, erased, now) == 0  # idempotent
    # at most `most` frames per erasure, the latest first
    assert shred_frames(eraser, [*erased, ("cam-7", "f-2", now - 90_000)], now, most=1) == 0
    grown = [n for n, body in bucket.objects.items() if len(body) != before.get(n)]
    assert len(grown) == 1 and len(bucket.objects) == len(before)  # the frame tree only
    reader = AvroSerde(shredder=_shredder(bucket))
    with pytest.raises(Shredded):
        reader.decode(frames["f-1"])
    for name in ("f-2", "f-3"):
        assert reader.decode(frames[name])["image"]["data"] == _frame(name)["image"]["data"]
    assert reader.decode(plates)["plate"] == KEPT  # the reads' tree untouched


class _Recorder:
    """The dead letters, producer and consumer a DetectProcessor talks to, as lists."""

    def __init__(self) -> None:
        self.dead: list[BaseException] = []
        self.produced: list[bytes] = []
        self.commits: list[Any] = []

    def record(self, _msg: Any, exc: BaseException) -> None:
        self.dead.append(exc)

    def produce(self, _topic: str, key: bytes | None = None, value: bytes = b"", **_: Any) -> None:
        self.produced.append(value)

    def poll(self, _timeout: float) -> int:
        return 0

    def flush(self, _timeout: float) -> int:
        return 0

    def commit(self, offsets: Any = None, asynchronous: bool = True) -> None:
        self.commits.append(offsets)


def test_detect_skips_a_frame_erased_before_it_got_to_it() -> None:
    """A frame whose key an erasure punctured is not a bad input: detect counts it as erased and
    commits past it, it does not dead-letter it (the copy would be the sealed bytes anyway)."""
    import threading

    from platestream.bench.inmemory import InMemoryMessage
    from services.detect.metrics import DetectMetrics
    from services.detect.processor import DetectProcessor
    from services.detect.settings import DetectSettings

    bucket = MemoryBucket()
    serde = AvroSerde(shredder=_shredder(bucket))
    now = int(time.time() * 1000)
    wire = serde.encode("frame", _frame("f-9", ts=now))
    assert shred_frames(_shredder(bucket), [("cam-7", "f-9", now)], now) == 1
    seen = _Recorder()
    proc = DetectProcessor(
        settings=DetectSettings(),
        consumer=seen,  # type: ignore[arg-type]
        producer=seen,  # type: ignore[arg-type]
        serde=AvroSerde(shredder=_shredder(bucket)),
        s3=None,  # type: ignore[arg-type]
        pipeline=None,  # type: ignore[arg-type]
        metrics=DetectMetrics(),
        dead_letters=seen,  # type: ignore[arg-type]
        stop=threading.Event(),
    )
    try:
        proc._dispatch(InMemoryMessage(proc.frames_topic, 0, 41, wire, b"cam-7"))  # type: ignore[arg-type]
        proc._publish_ready(wait=True)
    finally:
        proc._pool.shutdown()
    assert seen.dead == [] and seen.produced == []
    assert [(tp.partition, tp.offset) for tp in seen.commits[0]] == [(0, 42)]
    assert proc.metrics.frames.labels("erased")._value.get() == 1


def test_a_payload_of_megabytes_is_scanned_at_its_ends_in_memory_of_a_few_runs() -> None:
    """A dead letter can hold an image (up to 8 MiB): its start and end are scanned, and their
    runs are hashed as they are found, not gathered first."""
    import os
    import tracemalloc

    payload = b"<plate>era 5e01</plate>" + os.urandom(8 << 20) + b'{"plate":"KEEP001"}'
    texts = texts_of({"error": "unparsable", "key": None, "value": payload})
    assert sum(len(t) for t in texts) < 400 * 1024  # its start and its end
    started = time.process_time()
    tracemalloc.start()
    try:
        found = {c for c in iter_candidates(texts) if c in (ERASED, KEPT)}
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found == {ERASED, KEPT}
    assert peak < 256 * 1024, peak  # a few runs, not the payload's hundreds of thousands
    assert time.process_time() - started < 20  # about 0.5 s here, traced
