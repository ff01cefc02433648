"""Load generators for the pipeline benchmark, the soak and the fault suite.

Records have deterministic ids (``stable_id(run_id, kind, i)``), so a run can be checked id by id
against what landed in ClickHouse, and ``received_at`` is stamped at produce time: the clock the
freshness figures start from. Plates are spread so that two reads of one run almost never fall into
one passage (enrich would merge them), which keeps "one read, one event" true enough for counts.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from platestream import topics as catalogue
from platestream.ids import stable_id
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms

logger = logging.getLogger(__name__)

_ALPHABET = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q: stays clear of the 0/1 confusables
_DIGITS = "0123456789"


def plate_for(i: int, salt: int = 0) -> str:
    """A Mercosur-shaped plate (LLLNLNN) for index ``i``, uniformly spread by a hash.

    Uniform plates keep two reads of one camera from looking like OCR variants of each other
    (enrich would merge them into one passage); structured ones (counters) would not.
    """
    x = int.from_bytes(hashlib.blake2b(f"{salt}:{i}".encode(), digest_size=8).digest(), "big")
    letters, digits = divmod(x, 10**3)
    out = []
    for _ in range(4):
        letters, r = divmod(letters, 23)
        out.append(_ALPHABET[r])
    d = f"{digits % 1000:03d}"
    return f"{out[0]}{out[1]}{out[2]}{d[0]}{out[3]}{d[1]}{d[2]}"


@dataclass(frozen=True)
class ReadFactory:
    """Builds PlateRead records of one run."""

    run_id: str
    cameras: int = 1000

    def camera(self, i: int) -> str:
        return f"bench-cam-{i % self.cameras:04d}"

    def read_id(self, i: int) -> str:
        return stable_id(self.run_id, "read", i)

    def read(self, i: int, received_at: int) -> dict[str, Any]:
        return {
            "read_id": self.read_id(i),
            "frame_id": stable_id(self.run_id, "frame", i),
            "camera_id": self.camera(i),
            "ts": received_at,
            "plate": plate_for(i),
            "plate_raw": None,
            "confidence": 0.85,
            "char_confidences": [],
            "candidates": [],
            "plate_format": None,
            "plate_box": {"x": 100, "y": 200, "w": 120, "h": 40},
            "detection_confidence": 0.9,
            "vehicle_box": None,
            "vehicle_type": "car",
            "crop": None,
            "direction": None,
            "lane": (i // self.cameras) % 2,
            "detector": "bench",
            "inference_ms": None,
            "received_at": received_at,
        }


@dataclass(frozen=True)
class FrameFactory:
    """Builds Frame records carrying real JPEG photos (inline), for runs that include the detector."""

    run_id: str
    images: tuple[tuple[bytes, int, int], ...]
    cameras: int = 2

    @classmethod
    def from_dir(cls, run_id: str, directory: Path, limit: int = 8) -> FrameFactory:
        from PIL import Image

        images = []
        for path in sorted(directory.glob("*.jpg"))[:limit]:
            data = path.read_bytes()
            with Image.open(path) as im:
                images.append((data, im.width, im.height))
        if not images:
            raise FileNotFoundError(f"no *.jpg in {directory}")
        return cls(run_id, tuple(images))

    @classmethod
    def synthetic(cls, run_id: str, count: int = 8) -> FrameFactory:
        """Frames rendered by the synthetic plate generator (services/detect/synth.py): scenes
        with one plate each, for a run without a photo directory."""
        import random

        import cv2

        from services.detect.synth import render_sample

        images = []
        for i in range(count):
            rng = random.Random(f"platestream-bench-frame:{i}")
            img, _box, _spec = render_sample(rng, ("gb", "eu", "us", "br")[i % 4])
            ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            if not ok:
                raise ValueError("cannot encode a synthetic frame as JPEG")
            images.append((bytes(buf), int(img.shape[1]), int(img.shape[0])))
        return cls(run_id, tuple(images))

    def frame_id(self, i: int) -> str:
        return stable_id(self.run_id, "frame", "sim", i)

    def frame(self, i: int, received_at: int) -> dict[str, Any]:
        data, width, height = self.images[i % len(self.images)]
        return {
            "frame_id": self.frame_id(i),
            "camera_id": f"bench-frame-cam-{i % self.cameras}",
            "source": "sim",
            "seq": i,
            "ts": received_at,
            "received_at": received_at,
            "width": width,
            "height": height,
            "image": {
                "kind": "frame",
                "content_type": "image/jpeg",
                "data": data,
                "s3_key": None,
                "width": width,
                "height": height,
                "sha256": None,
            },
            "job_id": None,
            "plate_formats": None,
        }


@dataclass
class Paced:
    """Rate pacing in small slices: ``due(elapsed)`` says how many records should exist by now."""

    rate: float
    total: int | None = None

    def due(self, elapsed_s: float) -> int:
        n = int(self.rate * elapsed_s)
        return n if self.total is None else min(n, self.total)


@dataclass
class ProduceStats:
    produced: int = 0
    acked: int = 0
    failed: int = 0
    started_at: float = 0.0
    finished_at: float = 0.0
    series: list[tuple[float, int]] = field(default_factory=list)  # (t since start, produced)

    def rate(self) -> float:
        span = (self.finished_at or time.monotonic()) - self.started_at
        return self.produced / span if span > 0 else 0.0


class RecordPump:
    """Produces ``make(i, received_at)`` records to one topic at a steady rate, in a thread.

    ``on_sample(i, record_id, produced_ms)`` is called for every ``sample_every``-th record, so a
    freshness probe can follow it. The pump never blocks for long: when librdkafka's queue is full
    it polls and tries again, and the achieved rate is reported rather than assumed.
    """

    def __init__(
        self,
        *,
        settings: CommonSettings,
        topic: catalogue.Topic,
        make: Callable[[int, int], dict[str, Any]],
        record_id: Callable[[dict[str, Any]], str],
        key: Callable[[dict[str, Any]], str],
        rate: float,
        seconds: float,
        serde: AvroSerde,
        on_sample: Callable[[str, int], None] | None = None,
        sample_every: int = 100,
        start_index: int = 0,
        producer_overrides: dict[str, Any] | None = None,
    ) -> None:
        from platestream.kafka import make_producer

        self.settings = settings
        self.topic_name = settings.topic(topic.name)
        self.schema = topic.schema
        self.make = make
        self.record_id = record_id
        self.key = key
        self.pace = Paced(rate)
        self.seconds = seconds
        self.serde = serde
        self.on_sample = on_sample
        self.sample_every = max(1, sample_every)
        self.next_index = start_index
        self.stats = ProduceStats()
        # True end offsets from delivery reports: the local broker's high watermark lags behind.
        self.ends: dict[tuple[str, int], int] = {}
        self.stop = threading.Event()
        self._producer = make_producer(settings, **{"linger.ms": 20, **(producer_overrides or {})})
        self._thread: threading.Thread | None = None

    def _delivered(self, err: Any, msg: Any) -> None:
        if err is None:
            self.stats.acked += 1
            tp = (msg.topic(), msg.partition())
            if msg.offset() + 1 > self.ends.get(tp, 0):
                self.ends[tp] = msg.offset() + 1
        else:
            self.stats.failed += 1

    def run(self) -> None:
        subject = f"{self.topic_name}-value"
        self.stats.started_at = t0 = time.monotonic()
        last_mark = 0.0
        base = self.next_index
        while not self.stop.is_set():
            elapsed = time.monotonic() - t0
            if elapsed >= self.seconds:
                break
            due = base + self.pace.due(elapsed)
            while self.next_index < due and not self.stop.is_set():
                i = self.next_index
                produced_ms = now_ms()
                record = self.make(i, produced_ms)
                value = self.serde.encode(self.schema, record, subject=subject)
                try:
                    self._producer.produce(
                        self.topic_name,
                        key=self.key(record).encode(),
                        value=value,
                        on_delivery=self._delivered,
                    )
                except BufferError:
                    self._producer.poll(0.01)
                    continue
                if self.on_sample is not None and i % self.sample_every == 0:
                    self.on_sample(self.record_id(record), produced_ms)
                self.next_index += 1
                self.stats.produced += 1
                if self.stats.produced % 2000 == 0:
                    self._producer.poll(0)
            self._producer.poll(0)
            if elapsed - last_mark >= 1.0:
                self.stats.series.append((round(elapsed, 2), self.stats.produced))
                last_mark = elapsed
            time.sleep(0.005)
        self.stats.finished_at = time.monotonic()
        remaining = self._producer.flush(60)
        if remaining:
            logger.warning(
                "%d records to %s not acknowledged after 60 s", remaining, self.topic_name
            )

    def start(self) -> RecordPump:
        self._thread = threading.Thread(target=self.run, name=f"pump-{self.schema}", daemon=True)
        self._thread.start()
        return self

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)
