"""Publishing to Kafka with acknowledgements bridged to asyncio, and images by claim check.

The confluent-kafka producer calls delivery callbacks from ``poll()``; a background thread polls,
and each callback resolves an asyncio future on the server's loop. A push is answered only when
every one of its records has its future resolved without error (acks=all, idempotent producer).
"""

from __future__ import annotations

import asyncio
import io
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any

import urllib3
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from minio.error import MinioException

from platestream import topics as catalogue
from platestream.errors import PlatestreamError
from platestream.images import image_key, sha256_hex
from platestream.kafka import delivery_problem
from platestream.s3 import SHORT, retention_tags
from platestream.serde import AvroSerde
from platestream.timeutil import now_ms
from platestream.tracing import record_headers
from services.ingest.canonical import ParsedEvent, RawImage
from services.ingest.settings import IngestSettings

logger = logging.getLogger(__name__)

# Inline image bytes per camera-event record: the topic takes 2 MiB records.
MAX_INLINE_PER_RECORD = 1024 * 1024


class DeliveryError(PlatestreamError):
    """The broker did not acknowledge a record."""


class ImageStore:
    """Puts images into the bucket (the claim check); anything with ``put_object`` will do."""

    def __init__(self, *, client: Any, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def put(self, key: str, data: bytes, content_type: str) -> None:
        try:
            self._client.put_object(
                self.bucket,
                key,
                io.BytesIO(data),
                len(data),
                content_type=content_type,
                tags=retention_tags(SHORT),  # the sink's image-retention loop marks hits
            )
        except (MinioException, OSError, urllib3.exceptions.HTTPError, ValueError) as exc:
            raise DeliveryError(f"image store refused {key}: {exc}") from exc


def image_ref(
    img: RawImage,
    *,
    prefix: str,
    camera_id: str,
    ts: int,
    owner_id: str,
    kind_slot: str,
    inline_limit: int,
    store: ImageStore | None,
) -> dict[str, Any]:
    """An ImageRef: inline up to ``inline_limit`` bytes, else stored first and referenced by key."""
    ref: dict[str, Any] = {
        "kind": img.kind,
        "content_type": img.content_type,
        "data": None,
        "s3_key": None,
        "width": img.width,
        "height": img.height,
        "sha256": sha256_hex(img.data),
    }
    if len(img.data) <= inline_limit or store is None:
        if store is None and len(img.data) > inline_limit:
            raise DeliveryError(
                f"image of {len(img.data)} bytes needs the bucket, and no bucket is configured"
            )
        ref["data"] = img.data
    else:
        key = image_key(prefix, camera_id, ts, owner_id, kind_slot, img.content_type)
        store.put(key, img.data, img.content_type)
        ref["s3_key"] = key
    return ref


# Errors after which this producer never delivers again, though librdkafka does not flag them
# fatal for an idempotent (non-transactional) producer: seen on the local broker after its S3
# store came back (every later produce: PRODUCER_FENCED), while a new producer works at once.
_REPLACE_PRODUCER_ON = frozenset(
    {KafkaError.PRODUCER_FENCED, KafkaError._FENCED, KafkaError.INVALID_PRODUCER_EPOCH}
)


class AckingProducer:
    """A producer whose deliveries resolve futures; one background thread polls it."""

    def __init__(
        self,
        *,
        producer: Producer,
        poll_interval: float = 0.05,
        factory: Callable[[], Producer] | None = None,
    ) -> None:
        self.producer = producer
        self._factory = factory
        self._fatal = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="ingest-producer-poll", daemon=True)
        self._poll_interval = poll_interval
        self.replaced = 0

    def start(self) -> AckingProducer:
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            if self._fatal.is_set() and self._factory is not None:
                self._replace()
            self.producer.poll(self._poll_interval)

    def _replace(self) -> None:
        """A fatal producer error (e.g. fenced after a broker outage) makes the producer unusable
        for good: pushes would get 503 forever. Replace it; records still in the old one fail
        their futures, so their pushes are answered 503 and the devices retry with the same ids."""
        old = self.producer
        self.producer = self._factory()  # type: ignore[misc]
        self._fatal.clear()
        self.replaced += 1
        logger.warning("producer hit a fatal error; replaced it (%d so far)", self.replaced)
        old.purge()
        old.flush(0)

    def _check_fatal(self, err: KafkaError | None) -> None:
        if err is not None and (err.fatal() or err.code() in _REPLACE_PRODUCER_ON):
            self._fatal.set()

    def current(self) -> Producer:
        """A stand-in that always forwards to the producer in use, even after a replacement."""
        return _CurrentProducer(self)  # type: ignore[return-value]

    @staticmethod
    def _delivery_error(err: KafkaError | None, msg: Message) -> DeliveryError | None:
        """The error of a delivery report; a report without an offset is not proof of a write."""
        problem = delivery_problem(err, msg)
        return DeliveryError(problem) if problem is not None else None

    def close(self, timeout: float = 10.0) -> int:
        """Flush what is queued, stop polling; returns the number of records still undelivered."""
        remaining = self.producer.flush(timeout)
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)
        return int(remaining)

    def produce(
        self,
        topic: str,
        *,
        key: bytes | None,
        value: bytes,
        on_done: Callable[[KafkaError | None, Message], None],
    ) -> None:
        headers = record_headers(topic)  # event type and a new trace: ingest starts it
        for _ in range(100):
            try:
                self.producer.produce(
                    topic, key=key, value=value, headers=headers, on_delivery=on_done
                )
                return
            except BufferError:
                time.sleep(0.01)  # local queue full: the poll thread drains it
            except KafkaException as exc:  # e.g. a record over message.max.bytes
                self._check_fatal(
                    exc.args[0] if exc.args and isinstance(exc.args[0], KafkaError) else None
                )
                raise DeliveryError(f"producer refused the record: {exc}") from exc
        raise DeliveryError("producer queue is full")

    def produce_future(self, topic: str, *, key: bytes | None, value: bytes) -> Future[Message]:
        """A concurrent future resolved by the delivery report."""
        fut: Future[Message] = Future()

        def done(err: KafkaError | None, msg: Message) -> None:
            self._check_fatal(err)
            failure = self._delivery_error(err, msg)
            if failure is not None:
                fut.set_exception(failure)
            else:
                fut.set_result(msg)

        self.produce(topic, key=key, value=value, on_done=done)
        return fut

    def produce_async(
        self, topic: str, *, key: bytes | None, value: bytes
    ) -> asyncio.Future[Message]:
        """An asyncio future on the running loop, resolved thread-safely by the delivery report."""
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Message] = loop.create_future()

        def settle(failure: DeliveryError | None, msg: Message) -> None:
            if fut.done():
                return
            if failure is not None:
                fut.set_exception(failure)
            else:
                fut.set_result(msg)

        def done(err: KafkaError | None, msg: Message) -> None:
            self._check_fatal(err)
            loop.call_soon_threadsafe(settle, self._delivery_error(err, msg), msg)

        self.produce(topic, key=key, value=value, on_done=done)
        return fut


class _CurrentProducer:
    def __init__(self, owner: AckingProducer) -> None:
        self._owner = owner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._owner.producer, name)


class EventPublisher:
    """CameraEvent records from parsed events: images settled, encoded, produced, acknowledged."""

    def __init__(
        self,
        *,
        producer: AckingProducer,
        serde: AvroSerde,
        settings: IngestSettings,
        store: ImageStore | None,
    ) -> None:
        self._producer = producer
        self._serde = serde
        self._settings = settings
        self._store = store
        self.topic = settings.topic(catalogue.CAMERA_EVENTS.name)
        self._subject = f"{self.topic}-value"

    def build(self, event: ParsedEvent, *, camera_id: str, received_at: int) -> dict[str, Any]:
        """The record, with large images already in the bucket (blocking: call off the loop)."""
        event_id = event.event_id(camera_id)
        refs = []
        seen: dict[str, int] = {}
        inline_total = 0
        for img in event.images:
            seen[img.kind] = seen.get(img.kind, 0) + 1
            slot = img.kind if seen[img.kind] == 1 else f"{img.kind}{seen[img.kind]}"
            # each image inline up to the limit, and the record's inline images within a budget
            # that keeps it under the topic's max.message.bytes; the rest by claim check
            limit = self._settings.ingest_inline_image_bytes
            if inline_total + len(img.data) > MAX_INLINE_PER_RECORD and self._store is not None:
                limit = -1
            elif len(img.data) <= limit:
                inline_total += len(img.data)
            refs.append(
                image_ref(
                    img,
                    prefix="images",
                    camera_id=camera_id,
                    ts=event.ts,
                    owner_id=event_id,
                    kind_slot=slot,
                    inline_limit=limit,
                    store=self._store,
                )
            )
        return event.to_record(camera_id=camera_id, received_at=received_at, images=refs)

    def encode(self, record: dict[str, Any]) -> bytes:
        return self._serde.encode("camera_event", record, subject=self._subject)

    async def publish(
        self, events: list[ParsedEvent], *, camera_id: str, received_at: int | None = None
    ) -> list[dict[str, Any]]:
        """Publish and wait for every ack; returns the records (DeliveryError if any failed)."""
        received_at = received_at if received_at is not None else now_ms()
        needs_store = self._store is not None and any(
            len(i.data) > self._settings.ingest_inline_image_bytes
            or sum(len(j.data) for j in e.images) > MAX_INLINE_PER_RECORD
            for e in events
            for i in e.images
        )
        if needs_store:
            records = await asyncio.to_thread(
                lambda: [
                    self.build(e, camera_id=camera_id, received_at=received_at) for e in events
                ]
            )
        else:
            records = [self.build(e, camera_id=camera_id, received_at=received_at) for e in events]
        values = [self.encode(r) for r in records]  # all or nothing: encode before producing
        futures = [
            self._producer.produce_async(self.topic, key=camera_id.encode(), value=v)
            for v in values
        ]
        await asyncio.wait_for(
            asyncio.gather(*futures), timeout=self._settings.ingest_ack_timeout_s
        )
        return records

    def publish_sync(
        self, events: list[ParsedEvent], *, camera_id: str, timeout: float | None = None
    ) -> list[dict[str, Any]]:
        """The same for threads without a loop (MQTT bridge, camera connectors)."""
        received_at = now_ms()
        records = [self.build(e, camera_id=camera_id, received_at=received_at) for e in events]
        values = [self.encode(r) for r in records]
        futures = [
            self._producer.produce_future(self.topic, key=camera_id.encode(), value=v)
            for v in values
        ]
        deadline = time.monotonic() + (timeout or self._settings.ingest_ack_timeout_s)
        for fut in futures:
            fut.result(timeout=max(0.0, deadline - time.monotonic()))
        return records
