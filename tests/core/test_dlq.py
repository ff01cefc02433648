"""Dead letters continue the failed record's trace and name it in the log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from platestream.dlq import DeadLetters
from platestream.serde import AvroSerde
from platestream.settings import CommonSettings
from platestream.tracing import new_traceparent, trace_id


class _Producer:
    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def produce(self, topic: str, **kwargs: Any) -> None:
        self.sent.append((topic, kwargs))


class _Message:
    def __init__(self, headers: list[tuple[str, bytes]]) -> None:
        self._headers = headers

    def topic(self) -> str:
        return "anpr.plate-reads.v1"

    def partition(self) -> int:
        return 3

    def offset(self) -> int:
        return 41

    def key(self) -> bytes:
        return b"cam-1"

    def value(self) -> bytes:
        return b"\x00garbage"

    def headers(self) -> list[tuple[str, bytes]]:
        return self._headers


def _dlq(producer: _Producer) -> DeadLetters:
    return DeadLetters(
        stage="enrich",
        producer=producer,
        serde=AvroSerde(),
        settings=CommonSettings(),  # type: ignore[arg-type]
    )


def test_dead_letter_continues_the_trace(caplog: pytest.LogCaptureFixture) -> None:
    parent = new_traceparent()
    producer = _Producer()
    with caplog.at_level(logging.WARNING, logger="platestream.dlq"):
        _dlq(producer).record(_Message([("traceparent", parent.encode())]), ValueError("bad"))  # type: ignore[arg-type]
    ((topic, kwargs),) = producer.sent
    headers = dict(kwargs["headers"])
    assert topic == "anpr.dlq.enrich.v1"
    assert headers["event-type"] == b"io.platestream.anpr.DeadLetter"
    assert trace_id(headers["traceparent"]) == trace_id(parent)
    assert headers["traceparent"] != parent.encode()  # a new span in the same trace
    (line,) = caplog.records
    assert line.trace_id == trace_id(parent)  # type: ignore[attr-defined]
    assert "anpr.plate-reads.v1[3]@41" in line.getMessage()


def test_dead_letter_without_a_trace_starts_one() -> None:
    producer = _Producer()
    _dlq(producer).record(_Message([]), ValueError("bad"))  # type: ignore[arg-type]
    assert trace_id(dict(producer.sent[0][1]["headers"])["traceparent"])
