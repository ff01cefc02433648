"""Dead-letter publishing: the original bytes, the stage and the error, before a record is skipped."""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import Message, Producer

from platestream import topics as catalogue
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.timeutil import now_ms
from platestream.tracing import record_headers, trace_id

logger = logging.getLogger(__name__)


class DeadLetters:
    """Publishes dead letters of one stage to ``anpr.dlq.<stage>.v1``."""

    def __init__(
        self, *, stage: str, producer: Producer, serde: AvroSerde, settings: CommonSettings
    ) -> None:
        self.stage = stage
        self.topic = settings.topic(catalogue.dead_letter_topic(stage).name)
        self._producer = producer
        self._serde = serde
        self.count = 0

    def record(self, msg: Message, exc: BaseException) -> None:
        """Dead-letter a consumed record."""
        raw_headers: list[tuple[str, Any]] = list(msg.headers() or [])  # type: ignore[arg-type]
        headers = {
            k: (v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v))
            for k, v in raw_headers
        }
        tid = trace_id(headers.get("traceparent"))
        logger.warning(
            "dead-lettering %s[%s]@%s: %s: %s",
            msg.topic(),
            msg.partition(),
            msg.offset(),
            type(exc).__name__,
            exc,
            extra={"trace_id": tid} if tid else None,
        )
        self._send(
            key=msg.key(),
            value=msg.value() or b"",
            error=exc,
            source_topic=msg.topic(),
            source_partition=msg.partition(),
            source_offset=msg.offset(),
            headers=headers,
        )

    def raw(
        self,
        value: bytes,
        error: BaseException | str,
        *,
        key: bytes | None = None,
        headers: dict[str, str] | None = None,
        content_type: str | None = None,
        on_delivery: Any = None,
    ) -> None:
        """Dead-letter raw input that never became a record (e.g. a rejected HTTP request)."""
        self._send(
            key=key,
            value=value,
            error=error,
            headers=headers or {},
            content_type=content_type,
            on_delivery=on_delivery,
        )

    def _send(
        self,
        *,
        key: bytes | None,
        value: bytes,
        error: BaseException | str,
        on_delivery: Any = None,
        **fields: Any,
    ) -> None:
        record = {
            "stage": self.stage,
            "error_type": type(error).__name__ if isinstance(error, BaseException) else "rejected",
            "error": str(error)[:4000],
            "ts": now_ms(),
            "key": key,
            "value": value,
            **fields,
        }
        payload = self._serde.encode("dead_letter", record, subject=f"{self.topic}-value")
        # the dead letter is a step of the failed record's trace, when it carried one
        parent = (fields.get("headers") or {}).get("traceparent")
        kwargs: dict[str, Any] = {
            "key": key,
            "value": payload,
            "headers": record_headers(self.topic, parent),
        }
        if on_delivery is not None:
            kwargs["on_delivery"] = on_delivery
        self._producer.produce(self.topic, **kwargs)
        self.count += 1
