"""Record headers: the event type of a topic's records and a valid W3C traceparent."""

from __future__ import annotations

import re

from platestream import topics as catalogue
from platestream.tracing import event_type, new_traceparent, record_headers, trace_id

W3C = re.compile(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01")


def test_traceparent_is_w3c_and_a_child_keeps_the_trace() -> None:
    parent = new_traceparent()
    assert W3C.fullmatch(parent)
    child = new_traceparent(trace_id(parent))
    assert W3C.fullmatch(child) and child != parent
    assert trace_id(child) == trace_id(parent)


def test_invalid_traceparents_are_ignored() -> None:
    for bad in (
        None,
        "",
        "01-" + "a" * 32 + "-" + "b" * 16 + "-01",
        "00-" + "0" * 32 + "-" + "b" * 16 + "-01",
        "garbage",
    ):
        assert trace_id(bad) is None
    assert trace_id(("00-" + "a" * 32 + "-" + "b" * 16 + "-01").encode()) == "a" * 32


def test_event_type_is_the_schema_full_name_with_or_without_prefix() -> None:
    assert event_type(catalogue.ALERTS.name) == "io.platestream.anpr.BoloAlert"
    assert event_type("tenant1." + catalogue.ALERTS.name) == "io.platestream.anpr.BoloAlert"
    assert event_type("someone-elses-topic") is None


def test_record_headers_continue_a_given_trace() -> None:
    parent = new_traceparent()
    headers = dict(record_headers(catalogue.PLATE_READS.name, parent))
    assert headers["event-type"] == b"io.platestream.anpr.PlateRead"
    assert trace_id(headers["traceparent"]) == trace_id(parent)
    assert list(dict(record_headers("other"))) == ["traceparent"]
