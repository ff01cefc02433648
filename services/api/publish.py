"""Publishing the API's changes as events: wait for delivery, then for the projection to apply it."""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import KafkaException, Producer

from platestream.errors import PlatestreamError
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.tracing import record_headers

logger = logging.getLogger(__name__)


class PublishError(PlatestreamError):
    """A change could not be delivered to the log (answered 503)."""


class Publisher:
    """Encodes catalogue records and produces them to prefixed topics."""

    def __init__(self, *, producer: Producer, serde: AvroSerde, settings: CommonSettings) -> None:
        self._producer = producer
        self._serde = serde
        self._settings = settings

    def topic(self, base: str) -> str:
        return self._settings.topic(base)

    def encode(self, topic: str, schema: str, record: dict[str, Any]) -> bytes:
        return self._serde.encode(schema, record, subject=f"{topic}-value")

    def publish(
        self,
        base_topic: str,
        schema: str,
        key: str,
        record: dict[str, Any] | None,
        *,
        timeout: float = 10.0,
        full_topic: str | None = None,
    ) -> tuple[int, int]:
        """Produce one record (None: tombstone) and wait for its acknowledgement; (partition, offset)."""
        topic = full_topic or self.topic(base_topic)
        value = None if record is None else self.encode(topic, schema, record)
        return self.produce_raw(topic, key.encode(), value, timeout=timeout)

    def produce_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        timeout: float = 10.0,
        headers: list[tuple[str, str | bytes | None]] | None = None,
    ) -> tuple[int, int]:
        done = threading.Event()
        result: dict[str, Any] = {}

        def on_delivery(err: Any, msg: Any) -> None:
            result["err"] = err
            if err is None:
                result["at"] = (msg.partition(), msg.offset())
            done.set()

        headers = [*record_headers(topic), *(headers or [])]
        try:
            self._producer.produce(
                topic, key=key, value=value, headers=headers, on_delivery=on_delivery
            )
        except (BufferError, KafkaException) as exc:
            raise PublishError(f"cannot produce to {topic}: {exc}") from exc
        waited = 0.0
        while not done.is_set() and waited < timeout:
            self._producer.poll(0.05)
            waited += 0.05
        if not done.is_set():
            raise PublishError(f"no acknowledgement from the broker for {topic} within {timeout}s")
        if result["err"] is not None:
            raise PublishError(f"delivery to {topic} failed: {result['err']}")
        at: tuple[int, int] = result["at"]
        return at

    def publish_batch(
        self,
        base_topic: str,
        schema: str,
        items: list[tuple[str, dict[str, Any] | None]],
        *,
        timeout: float = 30.0,
    ) -> dict[int, int]:
        """Produce many records, wait for all acknowledgements; partition -> highest offset written."""
        topic = self.topic(base_topic)
        errors: list[str] = []
        last: dict[int, int] = {}
        pending = [len(items)]

        def on_delivery(err: Any, msg: Any) -> None:
            pending[0] -= 1
            if err is not None:
                errors.append(str(err))
            else:
                last[msg.partition()] = max(last.get(msg.partition(), -1), msg.offset())

        for key, rec in items:
            value = None if rec is None else self.encode(topic, schema, rec)
            while True:
                try:
                    self._producer.produce(
                        topic,
                        key=key.encode(),
                        value=value,
                        headers=record_headers(topic),
                        on_delivery=on_delivery,
                    )
                    break
                except BufferError:
                    self._producer.poll(0.1)
                except KafkaException as exc:
                    raise PublishError(f"cannot produce to {topic}: {exc}") from exc
        self._producer.flush(timeout)
        if errors or pending[0] > 0:
            raise PublishError(
                f"{len(errors) or pending[0]} of {len(items)} records not delivered to {topic}"
            )
        return last

    def publish_nowait(
        self, base_topic: str, schema: str, key: str, record: dict[str, Any]
    ) -> None:
        """Fire and forget (audit records); delivery errors are logged."""
        topic = self.topic(base_topic)

        def on_delivery(err: Any, _msg: Any) -> None:
            if err is not None:
                logger.error("delivery to %s failed: %s", topic, err)

        try:
            self._producer.produce(
                topic,
                key=key.encode(),
                value=self.encode(topic, schema, record),
                headers=record_headers(topic),
                on_delivery=on_delivery,
            )
        except (BufferError, KafkaException) as exc:
            # no audit record, no answer: the caller gets 503 rather than unaudited data
            raise PublishError(f"cannot produce to {topic}: {exc}") from exc
        self._producer.poll(0)

    def flush(self, timeout: float = 10.0) -> int:
        return int(self._producer.flush(timeout))
