"""The detect stage: frames in, one PlateRead per plate out, crops in the bucket.

One consumer thread polls ``anpr.frames.v1`` in batches and hands frames to a pool of worker
threads (onnxruntime releases the GIL, so threads use every core). The work queue is bounded:
when ``detect_queue_size`` frames are in flight the assigned partitions are paused, and resumed
when it drains. Results are taken in offset order per partition; their reads are produced, the
producer is flushed, and only when every read was delivered are the offsets committed, so a
crash re-reads frames rather than losing reads (at least once; read ids are deterministic, so
downstream deduplicates). Frames that cannot be decoded go to ``anpr.dlq.detect.v1`` with their
original bytes, and their offsets are committed like any other.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict, deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO
from typing import Any

import numpy as np
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from platestream import topics as catalogue
from platestream import zones as camera_zones
from platestream.dlq import DeadLetters
from platestream.errors import BadInputError, SerdeError, SinkError
from platestream.ids import stable_id
from platestream.images import image_key, sha256_hex
from platestream.kafka import delivery_problem
from platestream.plate_formats import PlateFormat, formats_for
from platestream.privacy.shredding import Shredded
from platestream.s3 import SHORT, retention_tags
from platestream.serde import AvroSerde
from services.detect.metrics import DetectMetrics
from services.detect.pipeline import Pipeline
from services.detect.settings import DetectSettings
from services.detect.types import FrameResult

logger = logging.getLogger(__name__)

S3_ATTEMPTS = 3


@dataclass
class _Work:
    msg: Message
    future: Future[list[tuple[bytes, bytes]]]


class DetectProcessor:
    """Consumes frames, runs the pipeline on worker threads, publishes reads, commits after delivery."""

    def __init__(
        self,
        *,
        settings: DetectSettings,
        consumer: Consumer,
        producer: Producer,
        serde: AvroSerde,
        s3: Any,
        pipeline: Pipeline,
        metrics: DetectMetrics,
        dead_letters: DeadLetters,
        stop: threading.Event,
    ) -> None:
        self.settings = settings
        self.consumer = consumer
        self.producer = producer
        self.serde = serde
        self.s3 = s3
        self.pipeline = pipeline
        self.metrics = metrics
        self.dead_letters = dead_letters
        self.stop = stop
        self.frames_topic = settings.topic(catalogue.FRAMES.name)
        self.reads_topic = settings.topic(catalogue.PLATE_READS.name)
        self._pool = ThreadPoolExecutor(
            max_workers=settings.detect_workers, thread_name_prefix="detect-worker"
        )
        self._inflight: OrderedDict[tuple[str, int], deque[_Work]] = OrderedDict()
        self._paused = False
        self._formats_cache: dict[tuple[str, ...], tuple[PlateFormat, ...]] = {}
        self._delivery_errors: list[str] = []
        # Set once a produced read failed: from then on nothing is committed by this process (a
        # later commit of the same partition would move past the frame whose reads were lost).
        self._failed: str | None = None
        self.frames_done = 0
        self.reads_published = 0

    # -- loop -------------------------------------------------------------------------------------
    def run(self) -> None:
        """Poll, dispatch, publish and commit until the stop event is set; then drain and commit."""
        self.consumer.subscribe([self.frames_topic], on_revoke=self._on_revoke)
        logger.info(
            "detect: consuming %s with %s workers (%s)",
            self.frames_topic,
            self.settings.detect_workers,
            self.pipeline.name,
        )
        try:
            while not self.stop.is_set():
                room = self.settings.detect_queue_size - self._depth()
                if room > 0:
                    msgs = self.consumer.consume(
                        num_messages=min(self.settings.detect_batch_size, room),
                        timeout=self.settings.detect_batch_ms / 1000,
                    )
                    for msg in msgs:
                        self._dispatch(msg)
                else:
                    self.consumer.poll(0.05)  # keeps the group session alive while paused
                    time.sleep(0.01)
                self._backpressure()
                self._publish_ready(wait=False)
            self._publish_ready(wait=True)
        finally:
            self._pool.shutdown(wait=True, cancel_futures=False)
            logger.info(
                "detect: stopped after %s frames, %s reads", self.frames_done, self.reads_published
            )

    def _depth(self) -> int:
        return sum(len(q) for q in self._inflight.values())

    def _dispatch(self, msg: Message) -> None:
        if msg.error():
            logger.warning("consumer error on %s: %s", self.frames_topic, msg.error())
            return
        tp = (str(msg.topic()), int(msg.partition() or 0))
        work = _Work(msg, self._pool.submit(self._process, msg))
        self._inflight.setdefault(tp, deque()).append(work)
        self.metrics.queue_depth.set(self._depth())

    def _backpressure(self) -> None:
        depth = self._depth()
        assignment = self.consumer.assignment()
        if not self._paused and depth >= self.settings.detect_queue_size and assignment:
            self.consumer.pause(assignment)
            self._paused = True
            self.metrics.paused.set(1)
            logger.debug("detect: queue full (%s frames), partitions paused", depth)
        elif self._paused and depth < max(1, self.settings.detect_queue_size // 2):
            if assignment:
                self.consumer.resume(assignment)
            self._paused = False
            self.metrics.paused.set(0)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # finish and commit what is in flight before the partitions move to another member;
        # after a failed delivery nothing more is committed (the next owner re-reads it all)
        if self._failed is None:
            self._publish_ready(wait=True)

    # -- publishing and commits ---------------------------------------------------------------------
    def _publish_ready(self, *, wait: bool) -> None:
        """Produce the reads of finished frames (offset order per partition), flush, commit."""
        if self._failed is not None:
            raise SinkError(f"{self._failed}; offsets not committed")
        commits: dict[tuple[str, int], int] = {}
        for tp, queue in self._inflight.items():
            while queue and (wait or queue[0].future.done()):
                work = queue.popleft()
                msg = work.msg
                try:
                    reads = work.future.result()
                except Shredded:  # a read from it was erased before detect got to it: skipped
                    self.metrics.frame_done("erased", 0, {}, 0.0)
                    reads = []
                except (BadInputError, SerdeError) as exc:
                    self.dead_letters.record(msg, exc)
                    self.metrics.dead_letters.inc()
                    self.metrics.frame_done("dead_letter", 0, {}, 0.0)
                    reads = []
                except SinkError:
                    raise  # the bucket is unreachable: stop without committing; frames are re-read
                except Exception as exc:
                    # a frame that breaks the model code must not stop the stage: dead-letter it
                    # with the reason so an operator can inspect and replay it
                    logger.exception(
                        "detect failed on %s[%s]@%s", msg.topic(), msg.partition(), msg.offset()
                    )
                    self.dead_letters.record(msg, exc)
                    self.metrics.dead_letters.inc()
                    self.metrics.frame_done("error", 0, {}, 0.0)
                    reads = []
                for key, value in reads:
                    self.producer.produce(
                        self.reads_topic, key=key, value=value, on_delivery=self._delivered
                    )
                    self.producer.poll(0)
                self.reads_published += len(reads)
                self.frames_done += 1
                commits[tp] = int(msg.offset() or 0) + 1
        self.metrics.queue_depth.set(self._depth())
        if not commits:
            return
        remaining = self.producer.flush(30.0)
        if remaining or self._delivery_errors:
            errors = self._delivery_errors
            self._failed = f"{remaining} reads undelivered, {len(errors)} failed ({errors[:3]})"
            raise SinkError(f"{self._failed}; offsets not committed")
        offsets = [TopicPartition(t, p, off) for (t, p), off in commits.items()]
        self.consumer.commit(offsets=offsets, asynchronous=False)
        self.metrics.commits.inc()
        logger.debug(
            "detect: committed %s", ", ".join(f"{t}[{p}]@{o}" for (t, p), o in commits.items())
        )

    def _delivered(self, err: Any, msg: Message) -> None:
        problem = delivery_problem(err, msg)
        if problem is not None:
            self._delivery_errors.append(problem)

    # -- the work of one frame (worker thread) ------------------------------------------------------
    def _process(self, msg: Message) -> list[tuple[bytes, bytes]]:
        record = self.serde.decode(msg.value() or b"")
        img = self._image(record)
        formats = self._formats(record.get("plate_formats"))
        t0 = time.perf_counter()
        result = self.pipeline.process(img, formats)
        total_ms = (time.perf_counter() - t0) * 1000
        out = self._reads(record, result, total_ms)
        self.metrics.frame_done("ok", len(out), result.timings_ms, total_ms)
        self.metrics.plates.inc(len(out))
        self.metrics.rescued.inc(sum(p.rescued for p in result.plates))
        return out

    def _image(self, record: dict[str, Any]) -> np.ndarray:
        import cv2

        ref = record.get("image") or {}
        data = ref.get("data")
        if data is None and ref.get("s3_key"):
            data = self._fetch(ref["s3_key"])
        if not data:
            raise BadInputError(
                f"frame {record.get('frame_id')} carries no image (neither inline nor s3_key)"
            )
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if img is None:
            raise BadInputError(
                f"frame {record.get('frame_id')}: image bytes are not a decodable JPEG/PNG"
            )
        return img

    def _fetch(self, key: str) -> bytes:
        from minio.error import S3Error

        for attempt in range(1, S3_ATTEMPTS + 1):
            try:
                resp = self.s3.get_object(self.settings.s3_bucket, key)
                try:
                    return bytes(resp.read())
                finally:
                    resp.close()
                    resp.release_conn()
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchBucket"):
                    raise BadInputError(
                        f"claim-checked frame {key} is not in the bucket: {exc.code}"
                    ) from exc
                err: Exception = exc
            except OSError as exc:  # connection errors
                err = exc
            if attempt < S3_ATTEMPTS:
                time.sleep(0.2 * attempt)
        raise SinkError(f"cannot fetch frame {key} from the bucket: {err}")

    def _store(self, key: str, data: bytes) -> None:
        from minio.error import S3Error

        for attempt in range(1, S3_ATTEMPTS + 1):
            try:
                self.s3.put_object(
                    self.settings.s3_bucket,
                    key,
                    BytesIO(data),
                    len(data),
                    content_type="image/jpeg",
                    tags=retention_tags(SHORT),  # the sink's image-retention loop marks hits
                )
                return
            except (S3Error, OSError) as exc:
                if attempt == S3_ATTEMPTS:
                    raise SinkError(f"cannot store crop {key}: {exc}") from exc
                time.sleep(0.2 * attempt)

    def _formats(self, names: list[str] | None) -> tuple[PlateFormat, ...]:
        key = tuple(names) if names else tuple(self.settings.detect_formats)
        cached = self._formats_cache.get(key)
        if cached is None:
            try:
                cached = formats_for(list(key))
            except ValueError as exc:
                logger.warning("frame names unknown plate formats (%s); using the defaults", exc)
                cached = formats_for(list(self.settings.detect_formats))
            self._formats_cache[key] = cached
        return cached

    def _reads(
        self, frame: dict[str, Any], result: FrameResult, total_ms: float
    ) -> list[tuple[bytes, bytes]]:
        out = []
        camera_id = frame["camera_id"]
        zones = camera_zones.parse_lenient(frame.get("zones"))
        for index, plate in enumerate(result.plates):
            outside = zones.box_verdict(
                plate.box.to_dict(), frame.get("width"), frame.get("height")
            )
            if outside is not None:  # the camera's zones say this plate is not to be read
                self.metrics.zone_drops.labels(outside).inc()
                continue
            read_id = stable_id(frame["frame_id"], index)
            crop_ref = None
            if plate.crop_jpeg:
                key = image_key("crops", camera_id, frame["ts"], read_id, "plate")
                self._store(key, plate.crop_jpeg)
                inline = len(plate.crop_jpeg) <= self.settings.detect_inline_crop_max_bytes
                crop_ref = {
                    "kind": "plate",
                    "content_type": "image/jpeg",
                    "data": plate.crop_jpeg if inline else None,
                    "s3_key": key,
                    "width": plate.crop_size[0] if plate.crop_size else None,
                    "height": plate.crop_size[1] if plate.crop_size else None,
                    "sha256": sha256_hex(plate.crop_jpeg),
                }
            r = plate.reading
            record = {
                "read_id": read_id,
                "frame_id": frame["frame_id"],
                "camera_id": camera_id,
                "ts": frame["ts"],
                "plate": r.text,
                "plate_raw": r.raw or r.text,
                "confidence": float(r.confidence * plate.detection_confidence),
                "char_confidences": [float(c) for c in r.char_confidences],
                "candidates": [
                    {"plate": c.text, "confidence": float(c.confidence)} for c in r.candidates
                ],
                "plate_format": r.plate_format,
                "plate_box": plate.box.to_dict(),
                "detection_confidence": float(plate.detection_confidence),
                "vehicle_box": plate.vehicle_box.to_dict() if plate.vehicle_box else None,
                "vehicle_type": plate.vehicle_type,
                "crop": crop_ref,
                "direction": None,
                "lane": None,
                "detector": self.pipeline.name,
                "inference_ms": round(total_ms, 2),
                "received_at": frame.get("received_at"),
            }
            value = self.serde.encode("plate_read", record, subject=f"{self.reads_topic}-value")
            out.append((camera_id.encode(), value))
            if self.settings.log_plates:
                logger.info("read %s on %s (%.2f)", r.text, camera_id, r.confidence)
        return out
