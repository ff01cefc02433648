"""Erasure of a plate or one plate event: subject ids, requests, and the ledger stages filter by.

An erasure is an event on ``anpr.erasures.v1`` (the request: who, why, what, up to when). The
sink acts on it (``services/sink/erasure.py``: deletes the rows and images already stored) and,
for as long as the topics hold copies, refuses to store them again: every record a projection
is about to write is first passed through an :class:`ErasureLedger` built from the same topic, so
a replay, a consumer group reset or a rebuild from the log does not bring an erased record back.

The ledger names a plate only by its subject id, HMAC-SHA256 of the normalised plate under the
deployment's ``privacy_subject_key``: the erasure topic and table can be kept for as long as any
copy could come back without being a list of erased plates themselves. A request erases what was
seen up to ``before_ts`` (the request's time): a later sighting of the vehicle is a new record.

Design and limits: docs/privacy.md, section 4.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from platestream.plates import normalise
from platestream.timeutil import now_ms

SCOPES = ("plate", "event")
ERASED_MARK = "[erased]"  # what an audit record's plate query reads once its plate is erased


def hmac_pads(key: str) -> tuple[bytes, bytes]:
    """The inner and outer pads of HMAC-SHA256 under ``key`` (RFC 2104): the ledger hashes from
    them, and the sink hands them to ClickHouse to compute the same HMAC there."""
    raw = key.encode()
    raw = (hashlib.sha256(raw).digest() if len(raw) > 64 else raw).ljust(64, b"\0")
    return bytes(b ^ 0x36 for b in raw), bytes(b ^ 0x5C for b in raw)


def subject_id(plate: str, key: str) -> str:
    """The keyed hash that names a plate in the erasure ledger (normalised first: ``abc 1234``
    and ``ABC1234`` are one subject)."""
    return hmac.new(key.encode(), normalise(plate).encode(), hashlib.sha256).hexdigest()


def _request(
    what: dict[str, Any],
    actor: str,
    purpose: str | None,
    case_id: str | None,
    ts: int | None,
) -> dict[str, Any]:
    at = now_ms() if ts is None else ts
    return {
        "erasure_id": str(uuid.uuid4()),
        **what,
        "before_ts": at,
        "actor": actor,
        "purpose": purpose,
        "case_id": case_id,
        "ts": at,
    }


def plate_request(
    plate: str,
    *,
    key: str,
    actor: str,
    purpose: str | None = None,
    case_id: str | None = None,
    ts: int | None = None,
) -> dict[str, Any]:
    """An ``erasure_request`` record for every record of ``plate`` seen until now."""
    what: dict[str, Any] = {
        "scope": "plate",
        "subject_id": subject_id(plate, key),
        "event_id": None,
        "read_ids": [],
    }
    return _request(what, actor, purpose, case_id, ts)


def event_request(
    event_id: str,
    read_ids: Iterable[str],
    *,
    actor: str,
    purpose: str | None = None,
    case_id: str | None = None,
    ts: int | None = None,
) -> dict[str, Any]:
    """An ``erasure_request`` record for one plate event (every version) and its reads."""
    what = {
        "scope": "event",
        "subject_id": None,
        "event_id": event_id,
        "read_ids": sorted(set(read_ids)),
    }
    return _request(what, actor, purpose, case_id, ts)


def event_reads(clickhouse: Any, event_id: str) -> list[str] | None:
    """The reads a stored plate event was made of (what an event erasure names with it); None
    when no such event is stored. ``clickhouse``: a clickhouse-connect client on the database."""
    found = clickhouse.query(
        "SELECT read_ids FROM plate_events WHERE event_id = {e:String} LIMIT 1",
        parameters={"e": event_id},
    ).result_rows
    return list(found[0][0]) if found else None


def check_request(rec: dict[str, Any]) -> None:
    """Raise ValueError for a request no stage can act on (the sink dead-letters it)."""
    scope = rec.get("scope")
    if scope not in SCOPES:
        raise ValueError(f"erasure scope {scope!r} is not one of {', '.join(SCOPES)}")
    sid = rec.get("subject_id")
    if scope == "plate" and not (
        isinstance(sid, str) and len(sid) == 64 and all(c in "0123456789abcdef" for c in sid)
    ):
        raise ValueError("a plate erasure needs subject_id, 64 lower-case hex digits")
    event_id = rec.get("event_id")
    if scope == "event" and not (isinstance(event_id, str) and 0 < len(event_id) <= 128):
        raise ValueError("an event erasure needs an event_id of 1-128 characters")
    if len(rec.get("read_ids") or ()) > 10_000:
        raise ValueError("an event erasure names at most 10,000 reads")


def _plates(schema: str, rec: dict[str, Any]) -> set[str]:
    """Every plate text a record of ``schema`` carries (what a subject is recognised by)."""
    found: set[str] = set()
    plate = rec.get("plate")
    if plate:
        found.add(plate)
    if schema in ("plate_read", "camera_event"):
        raw = rec.get("plate_raw")
        if raw and raw != plate:
            found.add(normalise(raw))
        found.update(c["plate"] for c in rec.get("candidates") or ())
    elif schema == "plate_event":
        found.update(rec.get("variants") or ())
    elif schema == "correction":
        if rec.get("previous_plate"):
            found.add(rec["previous_plate"])
    elif schema == "plate_anomaly":
        for side in ("first", "second"):
            sighting = rec.get(side) or {}
            if sighting.get("plate"):
                found.add(sighting["plate"])
            found.update(sighting.get("variants") or ())
    found.discard("")
    return found


CACHE = 1 << 18  # plates whose subject id is remembered (a passage's reads repeat its plate)


class SubjectIds:
    """``subject_id`` of normalised plates, remembered (records repeat plates). HMAC from the
    key's two pads hashed once (RFC 2104): 1.2 µs a plate instead of 2.6 for hmac.new."""

    def __init__(self, key: str) -> None:
        ipad, opad = hmac_pads(key)
        self._inner, self._outer = hashlib.sha256(ipad), hashlib.sha256(opad)
        self._sids: dict[str, str] = {}

    def __call__(self, plate: str) -> str:
        sid = self._sids.get(plate)
        if sid is None:
            if len(self._sids) >= CACHE:
                self._sids.clear()
            sid = self._sids[plate] = self.uncached(plate)
        return sid

    def uncached(self, plate: str) -> str:
        """The subject id of ``plate``, not remembered (texts that are mostly not plates)."""
        inner, outer = self._inner.copy(), self._outer.copy()
        inner.update(plate.encode())
        outer.update(inner.digest())
        return outer.hexdigest()


@dataclass
class ErasureLedger:
    """What has been erased, as the erasure topic says; thread-safe enough for one writer (the
    follower) and readers (set and dict lookups and assignments are atomic in CPython)."""

    key: str
    subjects: dict[str, int] = field(default_factory=dict)  # subject id -> latest before_ts
    events: dict[str, int] = field(default_factory=dict)  # event id -> before_ts
    reads: dict[str, int] = field(default_factory=dict)  # read id -> before_ts
    requests: int = 0
    _ids: SubjectIds | None = field(default=None, repr=False)

    def subject_of(self, plate: str) -> str:
        """``subject_id`` of a normalised plate (remembered)."""
        if self._ids is None:
            self._ids = SubjectIds(self.key)
        return self._ids(plate)

    def add(self, rec: dict[str, Any]) -> None:
        """Take one request into account (idempotent: a request read twice changes nothing)."""
        check_request(rec)
        before = int(rec["before_ts"])
        if rec["scope"] == "plate":
            sid = rec["subject_id"]
            self.subjects[sid] = max(before, self.subjects.get(sid, before))
        else:
            self.events[rec["event_id"]] = max(before, self.events.get(rec["event_id"], before))
            for read_id in rec.get("read_ids") or ():
                self.reads[read_id] = max(before, self.reads.get(read_id, before))
        self.requests += 1

    def empty(self) -> bool:
        return not (self.subjects or self.events)

    def erased(self, schema: str, rec: dict[str, Any]) -> bool:
        """Whether ``rec`` (a decoded record of ``schema``) is a copy of something erased."""
        if self.empty():
            return False
        ts = rec.get("ts")
        if not isinstance(ts, int):
            return False
        if schema == "plate_anomaly":  # it names its earlier sighting too: erased if that is
            first = (rec.get("first") or {}).get("ts")
            ts = min(ts, first) if isinstance(first, int) else ts
        if self.events:
            event_id = rec.get("event_id")
            if event_id is not None and ts <= self.events.get(event_id, -1):
                return True
            read_id = rec.get("read_id")
            if read_id is not None and ts <= self.reads.get(read_id, -1):
                return True
        if self.subjects:
            for plate in _plates(schema, rec):
                before = self.subjects.get(self.subject_of(plate))
                if before is not None and ts <= before:
                    return True
        return False

    def redact_audit(self, rec: dict[str, Any]) -> dict[str, Any]:
        """An audit record with an erased plate in its query replaced by ``[erased]`` (the record
        of who searched, when and why stays; whom they searched for does not)."""
        if not self.subjects:
            return rec
        try:
            query = json.loads(rec.get("query") or "")
        except ValueError:
            return rec
        if not isinstance(query, dict) or not isinstance(query.get("plate"), str):
            return rec
        before = self.subjects.get(self.subject_of(normalise(query["plate"])))
        if before is None or rec.get("ts", before + 1) > before:
            return rec
        query["plate"] = ERASED_MARK
        return {**rec, "query": json.dumps(query, separators=(",", ":"), sort_keys=True)}

    def apply(self, schema: str, rec: dict[str, Any]) -> dict[str, Any] | None:
        """The record as a projection may store it: None when it is erased, an audit record with
        the erased plate blanked, anything else unchanged."""
        if schema == "audit_record":
            return self.redact_audit(rec)
        return None if self.erased(schema, rec) else rec
