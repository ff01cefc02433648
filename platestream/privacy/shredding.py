"""Crypto-shredding: the topics' copies of a plate stop opening once the plate is erased.

With ``privacy_seal_topics`` on, every stage's serde seals the personal fields of the records it
writes (the plate, its raw text, OCR candidates and variants, an alert's pattern, a correction's
plates, an anomaly's sightings, an audit record's plate query, and inline images) with AES-GCM
under a **subject key**: a 128-bit key per plate, a leaf of a puncturable key tree kept in the
subject-key bucket (platestream/privacy/subject_keys.py, key_tree.py), named ``<sid24>.<tree8>``
where ``sid24`` is the first 24 hex digits of the plate's subject id
(platestream/privacy/erasure.py). Every stage's serde opens them again on decode, so the stages
see plates as before. A consumer without the key bucket and the secret (a downstream system
decoding with the registry alone) sees ``ps1:<kid>:<base64>`` where the plate was. Records whose
plate no stage has read are sealed under keys no plate names (``Spec.fixed``): a whole frame under
a key of its own (its camera and frame id), which the erasure of a plate read from it punctures
(`shred_frames`); a dead letter under a key of its stage and second, which the erasure of a
plate it mentions punctures (platestream/privacy/dead_letters.py).

Erasing a plate punctures it in every key tree (services/sink/erasure.py); from then on no copy
in any topic opens, for platestream or anyone: a replay or a rebuild meets :class:`Shredded`,
which the projections count as erased. Stages keep keys in memory for ``privacy_key_cache_s``.
Design, limits and costs: docs/privacy.md, section 4.
"""

from __future__ import annotations

import base64
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from platestream import topics
from platestream.errors import SerdeError
from platestream.plates import normalise
from platestream.privacy.erasure import SubjectIds
from platestream.privacy.subject_keys import KID_LEN, NONCE, KeyStoreUnavailable, SubjectKeys

if TYPE_CHECKING:
    from platestream.settings import CommonSettings

__all__ = ["SPECS", "KeyStoreUnavailable", "Shredded", "Shredder", "SubjectKeys", "shredder_for"]

logger = logging.getLogger(__name__)

# Frames one erasure punctures at most (a parked car can be in thousands a day): about 10 MiB.
MAX_FRAMES = 1000
TEXT_MARK = "ps1:"  # a sealed text: ps1:<kid>:<base64url(nonce | ciphertext | tag)>
BLOB_MARK = b"\x00ps1"  # sealed bytes: mark | kid (ascii) | nonce | ciphertext | tag


class Shredded(SerdeError):
    """A sealed field whose subject key is gone: the plate was erased."""


@dataclass(frozen=True)
class Spec:
    """The personal fields of one schema. Paths: ``a.b`` nested, ``a[]`` each item of a list.
    The key is that of ``subject``'s plate; ``own``: each text under its own plate's key.
    ``fixed``: a record whose plate nobody knows yet (a frame, a payload that failed before it
    was parsed); ``subject`` names a field that is not a plate, and the key is that of
    ``<schema>:<its value>``, which no plate's erasure names (a normalised plate has no colon):
    such records stop opening when their tree expires (crypto-expiry), or when an erasure
    punctures that key. ``part``: a second field joins the key's name, ``<schema>:<subject's
    value>:<part's value>`` (a frame's id: a key per frame); ``part_ms``: the part is a time in
    ms, taken in steps of that many (a dead letter's second: one key for a stage's second)."""

    subject: str
    texts: tuple[str, ...]
    blobs: tuple[str, ...] = ()
    own: bool = False
    fixed: bool = False
    part: str = ""
    part_ms: int = 0


SPECS: dict[str, Spec] = {
    "plate_read": Spec("plate", ("plate", "plate_raw", "candidates[].plate"), ("crop.data",)),
    "camera_event": Spec("plate", ("plate", "plate_raw", "candidates[].plate"), ("images[].data",)),
    "plate_event": Spec("plate", ("plate", "variants[]"), ("best_crop.data", "images[].data")),
    "bolo_alert": Spec("plate", ("plate", "pattern")),
    "correction": Spec("plate", ("plate", "previous_plate"), own=True),
    "plate_anomaly": Spec(
        "plate",
        ("plate", "first.plate", "first.variants[]", "second.plate", "second.variants[]"),
    ),
    "audit_record": Spec("query", ("query",)),  # the query JSON, under its "plate"'s key
    # whole frames before any plate is read, and what a stage could not read (ingest's device
    # payloads, a record that failed to decode): under a key of their camera or stage
    "frame": Spec("camera_id", (), ("image.data",), fixed=True, part="frame_id"),
    "dead_letter": Spec("stage", ("error",), ("key", "value"), fixed=True, part="ts", part_ms=1000),
}


def _map(node: Any, path: list[str], fn: Callable[[Any], Any]) -> Any:
    """``node`` with ``fn`` applied at ``path`` (copies what changes, never the input)."""
    if not path or node is None:
        return fn(node) if not path else node
    head, rest = path[0], path[1:]
    each = head.endswith("[]")
    name = head[:-2] if each else head
    if not isinstance(node, dict) or node.get(name) is None:
        return node
    value = node[name]
    if each:
        new = [_map(item, rest, fn) for item in value] if isinstance(value, list) else value
    else:
        new = _map(value, rest, fn)
    if new is value:
        return node
    return {**node, name: new}


def _keep_ms(schema: str) -> int:
    """How long the topics keep records of ``schema``: the class of the trees sealing them."""
    kept = [t.retention_ms for t in topics.ALL if t.schema == schema]
    return 0 if not kept or min(kept) < 0 else max(kept)


KEEP_MS = {name: _keep_ms(name) for name in SPECS}

_PATHS = {
    name: ([p.split(".") for p in spec.texts], [p.split(".") for p in spec.blobs])
    for name, spec in SPECS.items()
}


def query_plate(query: Any) -> str:
    """The normalised plate an audit record's query JSON names ("" when none)."""
    if not isinstance(query, str) or not query.startswith("{"):
        return ""
    try:
        parsed = json.loads(query)
    except ValueError:
        return ""
    plate = parsed.get("plate") if isinstance(parsed, dict) else None
    return normalise(plate) if isinstance(plate, str) else ""


class Shredder:
    """Seals and opens the personal fields of records (``SPECS``); what a serde calls."""

    def __init__(self, keys: SubjectKeys, subject_key: str) -> None:
        self.keys = keys
        self.subject_id = SubjectIds(subject_key)

    def key_name(self, schema: str, rec: dict[str, Any]) -> str:
        """What ``rec``'s key is named after: its plate, or for a ``Spec.fixed`` record
        ``<schema>:<subject>[:<part>]`` ("" when it has none: not sealed)."""
        spec = SPECS[schema]
        value = rec.get(spec.subject)
        if spec.fixed:
            if not isinstance(value, str):
                return ""
            part = rec.get(spec.part) if spec.part else None
            if spec.part_ms and isinstance(part, int):
                return f"{schema}:{value}:{part // spec.part_ms}"
            if isinstance(part, str):
                return f"{schema}:{value}:{part}"
            return f"{schema}:{value}"
        if schema == "audit_record":
            return query_plate(value)
        return normalise(value) if isinstance(value, str) else ""

    def seal(self, schema: str, rec: dict[str, Any]) -> dict[str, Any]:
        """``rec`` with its personal fields sealed (unchanged when it names no plate)."""
        spec = SPECS[schema]
        plate = self.key_name(schema, rec)
        first = rec.get(spec.subject)
        if (not plate and not spec.own) or (isinstance(first, str) and _sealed(first)):
            return rec
        texts, blobs = _PATHS[schema]
        keep = KEEP_MS[schema]
        # a frame or a dead letter (spec.fixed) is written once, from bytes a device sent: what
        # looks sealed there may be a payload that merely starts like a sealed value, so it is
        # sealed anyway

        def key_of(value: str) -> tuple[str, AESGCM]:
            own = (normalise(value) or plate) if spec.own else plate
            return self.keys.sealing_key(self.subject_id(own), keep)

        def text(value: Any) -> Any:
            if (
                not isinstance(value, str)
                or (_sealed(value) and not spec.fixed)
                or not (plate or normalise(value))
            ):
                return value
            kid, aead = key_of(value)
            nonce = os.urandom(NONCE)
            box = nonce + aead.encrypt(nonce, value.encode(), kid.encode())
            return f"{TEXT_MARK}{kid}:{base64.urlsafe_b64encode(box).decode()}"

        def blob(value: Any) -> Any:
            if (
                not isinstance(value, bytes)
                or not value
                or (value.startswith(BLOB_MARK) and not spec.fixed)
            ):
                return value
            kid, aead = self.keys.sealing_key(self.subject_id(plate), keep)
            nonce = os.urandom(NONCE)
            return BLOB_MARK + kid.encode() + nonce + aead.encrypt(nonce, value, kid.encode())

        for path in texts:
            rec = _map(rec, path, text)
        if plate:
            for path in blobs:
                rec = _map(rec, path, blob)
        return rec

    def open(self, schema: str, rec: dict[str, Any]) -> dict[str, Any]:
        """``rec`` with its sealed fields opened; raises Shredded when a key is gone."""
        texts, blobs = _PATHS[schema]

        def key(kid: str) -> AESGCM:
            aead = self.keys.opening_key(kid)
            if aead is None:
                raise Shredded(f"the subject key {kid} is erased: this {schema} does not open")
            return aead

        def text(value: Any) -> Any:
            if not isinstance(value, str) or not _sealed(value):
                return value
            kid, _, b64 = value[len(TEXT_MARK) :].partition(":")
            try:
                box = base64.urlsafe_b64decode(b64)
                return key(kid).decrypt(box[:NONCE], box[NONCE:], kid.encode()).decode()
            except (InvalidTag, ValueError) as exc:
                raise SerdeError(f"a sealed field of this {schema} does not open: {exc}") from exc

        def blob(value: Any) -> Any:
            if not isinstance(value, bytes) or not value.startswith(BLOB_MARK):
                return value
            at = len(BLOB_MARK)
            kid = value[at : at + KID_LEN].decode("ascii", "replace")
            body = value[at + KID_LEN :]
            try:
                return key(kid).decrypt(body[:NONCE], body[NONCE:], kid.encode())
            except (InvalidTag, ValueError) as exc:
                raise SerdeError(f"a sealed image of this {schema} does not open: {exc}") from exc

        for path in texts:
            rec = _map(rec, path, text)
        for path in blobs:
            rec = _map(rec, path, blob)
        return rec


def shred_frames(
    shredder: Shredder, frames: list[tuple[str, str, int]], now: int, most: int = MAX_FRAMES
) -> int:
    """Puncture the keys of the frames erased reads came from ((camera, frame id, time in ms)),
    those still in the frames topic, in the frame trees that sealed them only; returns how many.
    At most ``most``, the latest: each adds about 10 KiB to a tree every stage that seals or
    opens frames reads again, and the frames topic drops the others within its day anyway."""
    keep = KEEP_MS["frame"]
    recent = {
        shredder.key_name("frame", {"camera_id": c, "frame_id": f}): ts
        for c, f, ts in frames
        if f and ts >= now - keep - 3_600_000
    }
    if len(recent) > most:
        logger.warning(
            "erasure: %d frames show the plate; the %d latest shredded, the rest leave the "
            "frames topic within its retention",
            len(recent),
            most,
        )
        recent = dict(sorted(recent.items(), key=lambda kv: -kv[1])[:most])
    if not recent:
        return 0
    sids = [shredder.subject_id(name) for name in recent]
    return shredder.keys.shred_class(sids, keep, since_ms=min(recent.values()) - 3_600_000)


def kid_of(value: Any) -> str | None:
    """The key id a sealed text or image was sealed under (None: not sealed)."""
    if isinstance(value, bytes) and value.startswith(BLOB_MARK):
        return value[len(BLOB_MARK) : len(BLOB_MARK) + KID_LEN].decode("ascii", "replace")
    if isinstance(value, str) and _sealed(value):
        return value[len(TEXT_MARK) :].partition(":")[0]
    return None


def _sealed(value: str) -> bool:
    return value.startswith(TEXT_MARK) and len(value) > len(TEXT_MARK) + KID_LEN


def key_bucket(settings: CommonSettings) -> str:
    return settings.privacy_key_bucket or f"{settings.s3_bucket}-subject-keys"


def shredder_for(settings: CommonSettings) -> Shredder:
    """The shredder of a stage with ``privacy_seal_topics`` on."""
    from platestream.s3 import make_s3

    keys = SubjectKeys(
        make_s3(settings),
        key_bucket(settings),
        settings.privacy_subject_key,
        ttl_s=settings.privacy_key_cache_s,
        period_ms=int(settings.privacy_key_period_days * topics.DAY_MS),
        after_ms=topics.dead_letter_topic("sink").retention_ms
        + int(settings.privacy_key_grace_days * topics.DAY_MS),
    )
    return Shredder(keys, settings.privacy_subject_key)
