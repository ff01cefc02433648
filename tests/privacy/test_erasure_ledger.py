"""The erasure ledger's rules (issue 17 item 2), pure logic: subject ids, what a request erases
(records seen up to its time, of the plate in any of its fields, or of one event), the audit
record's plate blanked, the HMAC ClickHouse is given the pads of, requests refused. On the real
stack: tests/privacy/test_erasure.py."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from platestream.privacy.erasure import (
    ERASED_MARK,
    ErasureLedger,
    event_request,
    hmac_pads,
    plate_request,
    subject_id,
)
from services.sink import samples

ERASED, KEPT = "ERA5E01", "KEEP001"
KEY = "test-subject-key"


def test_a_subject_id_is_the_hmac_of_the_normalised_plate() -> None:
    sid = subject_id("era 5e-01", KEY)
    assert sid == hmac.new(KEY.encode(), ERASED.encode(), hashlib.sha256).hexdigest()
    assert sid != subject_id(ERASED, "another-key")
    assert ERASED not in json.dumps(plate_request(ERASED, key=KEY, actor="user:a"))


@pytest.mark.parametrize("key", ["k", "x" * 64, "y" * 200])
def test_the_pads_clickhouse_is_given_make_the_same_hmac(key: str) -> None:
    """ClickHouse computes SHA256(opad || SHA256(ipad || plate)) with these pads (RFC 2104), and
    the ledger the same from its own pads."""
    ipad, opad = hmac_pads(key)
    inner = hashlib.sha256(ipad + ERASED.encode()).digest()
    assert hashlib.sha256(opad + inner).hexdigest() == subject_id(ERASED, key)
    ledger = ErasureLedger(key=key)
    assert [ledger.subject_of(p) for p in (ERASED, KEPT, ERASED)] == [
        subject_id(p, key) for p in (ERASED, KEPT, ERASED)
    ]


def test_the_ledger_erases_what_was_seen_up_to_the_request() -> None:
    ledger = ErasureLedger(key=KEY)
    event = {**samples.plate_event(1, base_ts=1_760_000_000_000), "plate": ERASED}
    assert ledger.apply("plate_event", event) is event  # nothing erased yet
    ledger.add(plate_request(ERASED, key=KEY, actor="user:a", ts=event["ts"]))
    assert ledger.apply("plate_event", event) is None
    assert ledger.apply("plate_event", {**event, "ts": event["ts"] + 1}) is not None  # later
    other = {**event, "plate": KEPT, "variants": [KEPT]}
    assert ledger.apply("plate_event", other) is other
    assert ledger.erased("plate_event", {**other, "variants": [ERASED]})  # read as it, once
    read = {**samples.plate_read(1, base_ts=event["ts"] - 100), "plate": KEPT, "candidates": []}
    assert not ledger.erased("plate_read", read)
    assert ledger.erased("plate_read", {**read, "plate_raw": "era-5e 01"})
    assert ledger.erased(
        "plate_read", {**read, "candidates": [{"plate": ERASED, "confidence": 0.1}]}
    )
    fix = {**samples.correction(1, base_ts=event["ts"] - 10), "plate": KEPT}
    assert ledger.erased("correction", {**fix, "previous_plate": ERASED})
    clone = samples.anomaly(1, base_ts=event["ts"] + 120_000)  # seen again after the erasure
    clone["first"] = {**clone["first"], "plate": ERASED, "ts": event["ts"] - 5}
    assert ledger.erased("plate_anomaly", clone)  # it would name the erased earlier sighting
    clone["first"]["ts"] = event["ts"] + 60_000
    assert not ledger.erased("plate_anomaly", clone)
    audit = {**samples.audit(1, base_ts=event["ts"] - 10), "query": '{"plate":"era5e01","x":1}'}
    assert json.loads(ledger.apply("audit_record", audit)["query"]) == {
        "plate": ERASED_MARK,
        "x": 1,
    }
    unrelated = {**audit, "query": '{"plate":"KEEP001"}'}
    assert ledger.apply("audit_record", unrelated) is unrelated
    # one event: every version and its reads, nothing else
    ledger.add(event_request(other["event_id"], ["r-1"], actor="user:a", ts=event["ts"]))
    assert ledger.erased("plate_event", {**other, "version": 3})
    assert ledger.erased("plate_read", {**read, "read_id": "r-1"})
    assert not ledger.erased("plate_event", {**other, "event_id": "another"})


@pytest.mark.parametrize(
    "bad",
    [
        {"scope": "everything"},
        {"scope": "plate", "subject_id": "ERA5E01"},
        {"scope": "event", "event_id": ""},
    ],
)
def test_a_request_no_stage_can_act_on_is_refused(bad: dict[str, Any]) -> None:
    rec = {**plate_request(ERASED, key=KEY, actor="user:a"), **bad}
    with pytest.raises(ValueError):
        ErasureLedger(key=KEY).add(rec)
