"""Crypto-shredding: the topics' copies of a plate stop opening once the plate is erased.

With ``privacy_seal_topics`` on, every stage's serde seals the personal fields of the records it
writes (the plate, its raw text, OCR candidates and variants, an alert's pattern, a correction's
plates, an anomaly's sightings, an audit record's plate query, and inline images) with AES-GCM
under a **subject key**: a random 128-bit key per plate, kept (wrapped under a key derived from
``privacy_subject_key``) as an object of the subject-key bucket named ``<sid24>/<random>``, where
``sid24`` is the first 24 hex digits of the plate's subject id (platestream/privacy/erasure.py).
Every stage's serde opens them again on decode, so the stages see plates as before. A consumer
without the key bucket and the secret (a downstream system decoding with the registry alone) sees
``ps1:<kid>:<base64>`` where the plate was.

Erasing a plate deletes its key objects (services/sink/erasure.py); from then on no copy in any
topic opens, for platestream or anyone: a replay or a rebuild meets :class:`Shredded`, which the
projections count as erased. Stages keep keys in memory for ``privacy_key_cache_s``.

Several stages may create a key for one new plate at once: each seals with its own key id and
every key stays valid until the erasure removes the plate's whole prefix, so no record is lost to
the race. Design, limits and costs: docs/privacy.md, section 4.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from platestream.errors import PlatestreamError, SerdeError
from platestream.plates import normalise
from platestream.privacy.erasure import SubjectIds

if TYPE_CHECKING:
    from minio import Minio

    from platestream.settings import CommonSettings

TEXT_MARK = "ps1:"  # a sealed text: ps1:<kid>:<base64url(nonce | ciphertext | tag)>
BLOB_MARK = b"\x00ps1"  # sealed bytes: mark | kid (ascii) | nonce | ciphertext | tag
SID_DIGITS = 24  # hex digits of the subject id in a key id: 96 bits, no collisions in practice
KID_LEN = SID_DIGITS + 1 + 8  # "<sid24>/<8 hex>", also the key's object name
NONCE = 12
CACHE_SIZE = 200_000  # keys held per process, least recently used first out


class Shredded(SerdeError):
    """A sealed field whose subject key is gone: the plate was erased."""


class KeyStoreUnavailable(PlatestreamError):
    """The subject-key bucket did not answer: the stage stops and retries, nothing is lost."""


@dataclass(frozen=True)
class Spec:
    """The personal fields of one schema. Paths: ``a.b`` nested, ``a[]`` each item of a list.
    The key is that of ``subject``'s plate; ``own``: each text under its own plate's key."""

    subject: str
    texts: tuple[str, ...]
    blobs: tuple[str, ...] = ()
    own: bool = False


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


class SubjectKeys:
    """Subject keys in their bucket, with a per-process cache of ``ttl_s``; thread-safe."""

    def __init__(
        self,
        s3: Minio,
        bucket: str,
        secret: str,
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.s3, self.bucket, self.ttl_s, self.clock = s3, bucket, ttl_s, clock
        wrap = hmac.new(secret.encode(), b"platestream subject-key wrapping v1", hashlib.sha256)
        self._wrap = AESGCM(wrap.digest())
        self._sealing: OrderedDict[str, tuple[float, str, AESGCM]] = OrderedDict()  # sid24 ->
        self._opening: OrderedDict[str, tuple[float, AESGCM | None]] = OrderedDict()  # kid ->
        self._lock = threading.Lock()
        self._bucket_ready = False
        self.created = self.fetched = 0

    def _cached(self, cache: OrderedDict[str, Any], name: str) -> Any:
        with self._lock:
            hit = cache.get(name)
            if hit is None or self.clock() - hit[0] > self.ttl_s:
                return None
            cache.move_to_end(name)
            return hit

    def _remember(self, cache: OrderedDict[str, Any], name: str, value: tuple[Any, ...]) -> None:
        with self._lock:
            cache[name] = value
            cache.move_to_end(name)
            while len(cache) > CACHE_SIZE:
                cache.popitem(last=False)

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """An S3 call, tried three times over about a second, then KeyStoreUnavailable."""
        from minio.error import S3Error

        for attempt in range(3):
            try:
                return fn()
            except S3Error:
                raise
            except Exception as exc:  # connection refused, timeouts, 5xx retries exhausted
                if attempt == 2:
                    raise KeyStoreUnavailable(f"subject-key bucket: {what}: {exc}") from exc
                time.sleep(0.2 * (attempt + 1) ** 2)
        raise AssertionError("unreachable")

    def sealing_key(self, sid: str) -> tuple[str, AESGCM]:
        """The key id and key to seal a record of subject ``sid`` with (created when none)."""
        prefix = sid[:SID_DIGITS]
        hit = self._cached(self._sealing, prefix)
        if hit is not None:
            return hit[1], hit[2]
        names = self._names(prefix)
        kid = names[0] if names else None
        aead = self.opening_key(kid) if kid else None
        if aead is None:
            kid, raw = f"{prefix}/{os.urandom(4).hex()}", AESGCM.generate_key(bit_length=128)
            nonce = os.urandom(NONCE)
            body = nonce + self._wrap.encrypt(nonce, raw, kid.encode())
            self._ensure_bucket()
            self._call(
                "put", lambda: self.s3.put_object(self.bucket, kid, io.BytesIO(body), len(body))
            )
            aead = AESGCM(raw)
            self.created += 1
            self._remember(self._opening, kid, (self.clock(), aead))
        self._remember(self._sealing, prefix, (self.clock(), kid, aead))
        return kid, aead  # type: ignore[return-value]

    def opening_key(self, kid: str) -> AESGCM | None:
        """The key of ``kid``; None when it is gone (erased) or was never made."""
        hit = self._cached(self._opening, kid)
        if hit is not None:
            return hit[1]  # type: ignore[no-any-return]
        from minio.error import S3Error

        def fetch() -> bytes | None:
            try:
                resp = self.s3.get_object(self.bucket, kid)
            except S3Error as exc:
                if exc.code in ("NoSuchKey", "NoSuchObject", "NoSuchBucket"):
                    return None
                raise
            try:
                return resp.read()  # type: ignore[no-any-return]
            finally:
                resp.close()
                resp.release_conn()

        body = self._call("get", fetch)
        aead = None
        if body is not None:
            try:
                aead = AESGCM(self._wrap.decrypt(body[:NONCE], body[NONCE:], kid.encode()))
            except (InvalidTag, ValueError) as exc:
                raise SerdeError(f"subject key {kid} does not unwrap: {exc}") from exc
            self.fetched += 1
            prefix = kid.partition("/")[0]
            if self._cached(self._sealing, prefix) is None:  # a stage that reads a plate
                self._remember(self._sealing, prefix, (self.clock(), kid, aead))  # writes it next
        self._remember(self._opening, kid, (self.clock(), aead))
        return aead

    def shred(self, sid: str) -> int:
        """Delete every key of subject ``sid``; returns how many there were."""
        prefix = sid[:SID_DIGITS]
        names = self._names(prefix)
        for name in names:
            self._call("delete", partial(self.s3.remove_object, self.bucket, name))
        with self._lock:
            self._sealing.pop(prefix, None)
            for name in [k for k in self._opening if k.startswith(prefix + "/")]:
                del self._opening[name]
        return len(names)

    def _names(self, prefix: str) -> list[str]:
        """The key objects of one subject (an absent bucket holds none)."""
        from minio.error import S3Error

        def names() -> list[str]:
            try:
                found = self.s3.list_objects(self.bucket, prefix=prefix + "/")
                # SeaweedFS lists an emptied "folder" as a directory entry: not a key
                return sorted(str(o.object_name) for o in found if not o.is_dir)
            except S3Error as exc:
                if exc.code == "NoSuchBucket":
                    return []
                raise

        return self._call("list", names)  # type: ignore[no-any-return]

    def _ensure_bucket(self) -> None:
        if not self._bucket_ready:
            from platestream.s3 import ensure_bucket

            self._call("make bucket", lambda: ensure_bucket(self.s3, self.bucket))
            self._bucket_ready = True


class Shredder:
    """Seals and opens the personal fields of records (``SPECS``); what a serde calls."""

    def __init__(self, keys: SubjectKeys, subject_key: str) -> None:
        self.keys = keys
        self.subject_id = SubjectIds(subject_key)

    def _subject(self, schema: str, rec: dict[str, Any]) -> str:
        value = rec.get(SPECS[schema].subject)
        if schema == "audit_record":
            return query_plate(value)
        return normalise(value) if isinstance(value, str) else ""

    def seal(self, schema: str, rec: dict[str, Any]) -> dict[str, Any]:
        """``rec`` with its personal fields sealed (unchanged when it names no plate)."""
        spec = SPECS[schema]
        plate = self._subject(schema, rec)
        first = rec.get(spec.subject)
        if (not plate and not spec.own) or (isinstance(first, str) and _sealed(first)):
            return rec
        texts, blobs = _PATHS[schema]

        def key_of(value: str) -> tuple[str, AESGCM]:
            own = (normalise(value) or plate) if spec.own else plate
            return self.keys.sealing_key(self.subject_id(own))

        def text(value: Any) -> Any:
            if not isinstance(value, str) or _sealed(value) or not (plate or normalise(value)):
                return value
            kid, aead = key_of(value)
            nonce = os.urandom(NONCE)
            box = nonce + aead.encrypt(nonce, value.encode(), kid.encode())
            return f"{TEXT_MARK}{kid}:{base64.urlsafe_b64encode(box).decode()}"

        def blob(value: Any) -> Any:
            if not isinstance(value, bytes) or not value or value.startswith(BLOB_MARK):
                return value
            kid, aead = self.keys.sealing_key(self.subject_id(plate))
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
    )
    return Shredder(keys, settings.privacy_subject_key)
