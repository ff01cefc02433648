"""Where crypto-shredding's subject keys live: key trees in the subject-key bucket.

A subject's key is a leaf of a puncturable key tree (platestream/privacy/key_tree.py). Each tree
is one object of the bucket (platestream/privacy/key_bucket.py: ``trees/<tree8>-<lifetime>``), its
frontier wrapped (AES-GCM) under a key derived from ``privacy_subject_key``: the secret alone
opens nothing, the bucket alone neither. A sealed field names its key as ``<sid24>.<tree8>``. A
stage lists the trees every ``ttl_s`` seconds; it reads a tree (again, once it changed) only when
it seals or opens with it, so a stage holds the trees of the records it meets, not every live
one. It seals with the newest tree in which the plate is not punctured, creating a tree when
there is none (a plate seen again after its erasure, or the first plate). Erasing a plate
punctures it in every tree and writes the trees back.

Trees live for a period (crypto-expiry): a tree seals for ``period_ms`` (a week by default) the
records of one retention class (``keep_ms``: how long the topics keep what it seals), then the
next period's tree takes over; from ``seal_until_ms + keep_ms + after_ms`` (``after_ms`` covers a
dead letter's own retention and the broker's segment rounding) nothing sealed under it is left in
any topic, so it stops opening and :meth:`SubjectKeys.expire` deletes it. Every copy of the log,
mirrors and backups included, then stops opening too, and an erasure punctures only the trees
still alive, so the trees a stage loads stop growing with erasures of years past. The next
period's trees are made in the last hour of a period by the first stage to list the bucket, so
the stages do not each make their own at the turn.

Builds before the trees kept one object per key, ``<sid24>/<rand8>``: records sealed by them still
open, and an erasure deletes those objects too; no new ones are made.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from platestream.errors import SerdeError
from platestream.privacy.key_bucket import (
    TREES,
    KeyBucket,
    KeyStoreUnavailable,
    listed_tree,
    tree_object,
)
from platestream.privacy.key_tree import KeyTree
from platestream.topics import DAY_MS

if TYPE_CHECKING:
    from minio import Minio

SID_DIGITS = 24  # hex digits of the subject id in a key id: 96 bits, no collisions in practice
KID_LEN = SID_DIGITS + 1 + 8  # "<sid24>.<tree8>" (trees), or "<sid24>/<8 hex>" (one object each)
NONCE = 12
HEX = frozenset("0123456789abcdef")
LEAD_MS = 3600 * 1000  # the next period's trees are made up to an hour before it begins
CACHE_SIZE = 200_000  # keys held per process, least recently used first out
__all__ = ["TREES", "KeyStoreUnavailable", "SubjectKeys"]


@dataclass
class _Listed:
    """A tree of the last listing: its object and etag, and ``tree``, which holds only the
    lifetime (no frontier) until ``loaded``."""

    obj_name: str
    etag: str | None
    tree: KeyTree
    loaded: bool


class SubjectKeys:
    """Subject keys from the bucket's key trees, cached per process for ``ttl_s``; thread-safe."""

    def __init__(
        self,
        s3: Minio,
        bucket: str,
        secret: str,
        *,
        ttl_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        period_ms: int = 7 * DAY_MS,
        after_ms: int = 37 * DAY_MS,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.s3, self.bucket, self.ttl_s, self.clock = s3, bucket, ttl_s, clock
        self._store = KeyBucket(s3, bucket)
        self.period_ms, self.after_ms, self.wall = period_ms, after_ms, wall
        wrap = hmac.new(secret.encode(), b"platestream subject-key wrapping v1", hashlib.sha256)
        self._wrap = AESGCM(wrap.digest())
        self._trees: dict[str, _Listed] = {}  # tree8 -> its object, etag and (once read) tree
        self._listed_at = -float("inf")
        self._forced_at = -float("inf")
        self._sealing: OrderedDict[str, tuple[float, str, AESGCM]] = OrderedDict()  # sid24 ->
        self._opening: OrderedDict[str, tuple[float, AESGCM | None]] = OrderedDict()  # kid ->
        self._lock = threading.RLock()
        self.created = self.fetched = self.derived = 0  # trees made, objects read, keys derived
        self.expired = 0  # trees deleted at the end of their life
        self._classes: set[int] = set()  # the classes this process seals: their next trees

    # -- the two questions a serde asks --------------------------------------------------------

    def sealing_key(self, sid: str, keep_ms: int = 0) -> tuple[str, AESGCM]:
        """The key id and key to seal a record of subject ``sid`` with, for a topic that keeps
        it ``keep_ms`` (0: no limit, a tree that never expires)."""
        prefix = sid[:SID_DIGITS]
        slot = f"{keep_ms}:{prefix}"
        hit = self._cached(self._sealing, slot)
        if hit is not None and hit[3].seals_at(self._now_ms()):
            return hit[1], hit[2]
        with self._lock:
            self._classes.add(keep_ms)
            self._refresh()
            name, leaf, tree = self._sealing_tree(prefix, keep_ms)
            if leaf is None:  # none of this period (or the plate is punctured): look again, then
                self._refresh(force=True)  # make one unless another stage just did
                name, leaf, tree = self._sealing_tree(prefix, keep_ms)
            if leaf is None or tree is None:
                name, tree = self._create_tree(keep_ms, self._now_ms())
                leaf = tree.leaf(prefix)
                assert leaf is not None
            self.derived += 1
            listed_at = self._listed_at  # a derived key lives no longer than the listing behind it
        kid, aead = f"{prefix}.{name}", AESGCM(leaf)
        self._remember(self._opening, kid, (listed_at, aead))
        self._remember(self._sealing, slot, (listed_at, kid, aead, tree))
        return kid, aead

    def _sealing_tree(self, prefix: str, keep_ms: int) -> tuple[str, bytes | None, KeyTree | None]:
        """The newest tree of class ``keep_ms`` whose period is now and which derives ``prefix``."""
        now = self._now_ms()
        for name, entry in sorted(self._trees.items(), key=lambda kv: -kv[1].tree.created_ms):
            life = entry.tree
            if life.keep_ms != keep_ms or not life.seal_until_ms or not life.seals_at(now):
                continue
            if life.seal_until_ms - self.period_ms > now:
                continue  # made ahead for the next period
            tree = self._load(name)
            leaf = tree.leaf(prefix) if tree is not None else None
            if leaf is not None:
                return name, leaf, tree
        return "", None, None

    def opening_key(self, kid: str) -> AESGCM | None:
        """The key of ``kid``; None when it is gone (erased) or was never made."""
        hit = self._cached(self._opening, kid)
        if hit is not None:
            return hit[1]  # type: ignore[no-any-return]
        cached_at = self.clock()
        if "/" in kid:
            aead = self._legacy_key(kid)
        else:
            prefix, _, name = kid.partition(".")
            with self._lock:
                self._refresh()
                if name not in self._trees and self.clock() - self._forced_at > 1.0:
                    self._forced_at = self.clock()  # a tree another stage made since the listing
                    self._refresh(force=True)
                entry = self._trees.get(name)
                alive = entry is not None and not entry.tree.expired_at(self._now_ms())
                tree = self._load(name) if alive else None
                leaf = tree.leaf(prefix) if tree is not None else None
                self.derived += leaf is not None
                cached_at = self._listed_at
            aead = AESGCM(leaf) if leaf is not None else None
        self._remember(self._opening, kid, (cached_at, aead))
        return aead

    # -- erasure ----------------------------------------------------------------------------------

    def derivable(self, sid: str) -> int:
        """In how many trees (read now) subject ``sid``'s key can still be derived."""
        with self._lock:
            self._refresh(force=True)
            trees = [self._load(name) for name in list(self._trees)]
            return sum(t is not None and t.leaf(sid) is not None for t in trees)

    def shred(self, sid: str, before_ms: int | None = None) -> int:
        """Make subject ``sid``'s keys in every tree created before ``before_ms`` (every tree when
        None) underivable; returns how many keys that removed (trees punctured, plus per-key
        objects of earlier builds deleted). A tree made later holds only later records."""
        return self.shred_all({sid: before_ms})

    def shred_all(self, subjects: Mapping[str, int | None], *, objects: bool = True) -> int:
        """:meth:`shred` for several subjects (subject id -> before_ms), each tree read and written
        once; idempotent, so calling it again with every erasure mends a tree another eraser
        overwrote with an older copy. ``objects``: also delete earlier builds' per-key objects."""
        wanted = {sid[:SID_DIGITS].lower(): before for sid, before in subjects.items()}
        removed = 0
        for sid in wanted if objects else ():  # keys of builds before the trees: one object each
            for name in self._store.names(sid):
                self._store.delete(name)
                removed += 1
        with self._lock:
            self._refresh(force=True)
            now = self._now_ms()
            for name, entry in list(self._trees.items()):
                if entry.tree.expired_at(now):
                    continue  # opens nothing any more; expire() deletes it
                tree = self._load(name)
                if tree is None:
                    continue  # deleted since the listing
                punctured = sum(
                    tree.puncture(sid)
                    for sid, before in wanted.items()
                    if before is None or tree.created_ms < before
                )
                if punctured:
                    entry.etag = self._put_tree(entry.obj_name, tree)
                    removed += punctured
            self._sealing.clear()
            self._opening.clear()
        return removed

    def shred_class(self, sids: Iterable[str], keep_ms: int, *, since_ms: int) -> int:
        """Make each subject's key underivable in the live trees of class ``keep_ms`` that sealed
        at or after ``since_ms`` only: records of one class and a recent time (the frames an
        erased plate was read from: the frames topic keeps a day), without growing the trees of
        other classes and older periods. Returns how many keys that removed."""
        prefixes = sorted({sid[:SID_DIGITS].lower() for sid in sids})
        return self._puncture(
            lambda _name, life: (
                prefixes
                if life.keep_ms == keep_ms
                and not (life.seal_until_ms and life.seal_until_ms < since_ms)
                else []
            )
        )

    def puncture_keys(self, kids: Iterable[str]) -> int:
        """Make each key ``<sid24>.<tree8>`` underivable in its own tree only (every other tree
        unchanged): what an erasure does to records sealed under keys of their own, the dead
        letters that mention the plate (platestream/privacy/dead_letters.py). Returns how many
        keys that removed; a key whose tree ended, or of the builds before the trees, is skipped
        (it opens nothing, or no dead letter was sealed under one)."""
        by_tree: dict[str, set[str]] = {}
        for kid in kids:
            prefix, _, name = kid.partition(".")
            if len(prefix) == SID_DIGITS and name and all(c in HEX for c in prefix.lower()):
                by_tree.setdefault(name, set()).add(prefix.lower())
        return self._puncture(lambda name, _life: sorted(by_tree.get(name, ())))

    def _puncture(self, prefixes_of: Callable[[str, KeyTree], list[str]]) -> int:
        """Puncture in each live tree (listed now) the prefixes ``prefixes_of(name, lifetime)``
        names for it, write back the trees that changed and drop the keys derived before."""
        removed = 0
        with self._lock:
            self._refresh(force=True)
            now = self._now_ms()
            for name, entry in list(self._trees.items()):
                prefixes = [] if entry.tree.expired_at(now) else prefixes_of(name, entry.tree)
                tree = self._load(name) if prefixes else None
                punctured = sum(tree.puncture(p) for p in prefixes) if tree is not None else 0
                if tree is not None and punctured:
                    entry.etag = self._put_tree(entry.obj_name, tree)
                    removed += punctured
            if removed:
                self._sealing.clear()
                self._opening.clear()
        return removed

    def expire(self) -> int:
        """Delete the trees past their ``expires_ms``: every record sealed under them has left
        every topic, and from now on no copy of one opens anywhere. Returns how many."""
        with self._lock:
            self._refresh(force=True)
            now = self._now_ms()
            gone = [name for name, entry in self._trees.items() if entry.tree.expired_at(now)]
            for name in gone:
                self._store.delete(self._trees.pop(name).obj_name)
            if gone:
                self._sealing.clear()
                self._opening.clear()
            self.expired += len(gone)
        return len(gone)

    def trees(self) -> list[KeyTree]:
        """The trees in the bucket now, by their lifetimes (the retention report): a tree not read
        yet has no frontier here."""
        with self._lock:
            self._refresh(force=True)
            return [entry.tree for entry in self._trees.values()]

    # -- the bucket ------------------------------------------------------------------------------

    def _refresh(self, force: bool = False) -> None:
        """Re-list the trees (every ``ttl_s``, or now); a tree new or changed is read when it is
        next needed (one named without its lifetime at once). A change drops every derived key,
        so an erasure elsewhere takes effect here within ``ttl_s``."""
        if not force and self.clock() - self._listed_at <= self.ttl_s:
            return
        trees: dict[str, _Listed] = {}
        for obj_name, etag in self._store.list_trees():
            name, life = listed_tree(obj_name)
            known = self._trees.get(name)
            if known is not None and etag is not None and known.etag == etag:
                trees[name] = known
            elif life is not None:
                trees[name] = _Listed(obj_name, etag, life, loaded=False)
            elif (tree := self._get_tree(obj_name)) is not None:
                trees[name] = _Listed(obj_name, etag, tree, loaded=True)
        changed = trees.keys() != self._trees.keys() or any(
            trees[n] is not self._trees[n] for n in trees
        )
        self._trees, self._listed_at = trees, self.clock()
        self._make_next_trees()
        if changed:
            self._sealing.clear()
            self._opening = OrderedDict((k, v) for k, v in self._opening.items() if "/" in k)

    def _make_next_trees(self) -> None:
        """In the last tenth of a period (at most its last hour), make the next period's tree of
        each class this process seals, unless the listing just read has one: the stages then
        find it at their next listing, and do not each make their own at the turn of the period."""
        now = self._now_ms()
        end = (now // self.period_ms + 1) * self.period_ms
        if now < end - min(self.period_ms // 10, LEAD_MS):
            return
        for keep_ms in sorted(self._classes):
            if not any(
                e.tree.keep_ms == keep_ms and e.tree.seal_until_ms > end
                for e in self._trees.values()
            ):
                self._create_tree(keep_ms, end)

    def _load(self, name: str) -> KeyTree | None:
        """Tree ``name`` with its frontier, read now if this process has not yet; None when it
        is no longer in the bucket."""
        entry = self._trees.get(name)
        if entry is None or entry.loaded:
            return entry.tree if entry is not None else None
        tree = self._get_tree(entry.obj_name)
        if tree is None:
            del self._trees[name]
            return None
        entry.tree, entry.loaded = tree, True
        return tree

    def _get_tree(self, obj_name: str) -> KeyTree | None:
        body = self._store.read(obj_name)
        if body is None:
            return None
        self.fetched += 1
        try:
            plain = self._wrap.decrypt(body[:NONCE], body[NONCE:], obj_name.encode())
            return KeyTree.from_bytes(plain)
        except (InvalidTag, ValueError) as exc:
            raise SerdeError(f"the key tree {obj_name} does not unwrap: {exc}") from exc

    def _put_tree(self, obj_name: str, tree: KeyTree) -> str | None:
        nonce = os.urandom(NONCE)
        return self._store.put(
            obj_name, nonce + self._wrap.encrypt(nonce, tree.to_bytes(), obj_name.encode())
        )

    def _create_tree(self, keep_ms: int, at_ms: int) -> tuple[str, KeyTree]:
        """A tree for the records of class ``keep_ms`` of the period holding ``at_ms``."""
        now = self._now_ms()
        seal_until = (at_ms // self.period_ms + 1) * self.period_ms
        expires = seal_until + keep_ms + self.after_ms if keep_ms else 0
        tree = KeyTree.new(now, keep_ms=keep_ms, seal_until_ms=seal_until, expires_ms=expires)
        name = os.urandom(4).hex()
        obj_name = tree_object(name, tree)
        self._trees[name] = _Listed(obj_name, self._put_tree(obj_name, tree), tree, loaded=True)
        self.created += 1
        return name, tree

    def _legacy_key(self, kid: str) -> AESGCM | None:
        """A key of the builds before the trees: its own object, wrapped the same way."""
        body = self._store.read(kid)
        if body is None:
            return None
        self.fetched += 1
        try:
            return AESGCM(self._wrap.decrypt(body[:NONCE], body[NONCE:], kid.encode()))
        except (InvalidTag, ValueError) as exc:
            raise SerdeError(f"subject key {kid} does not unwrap: {exc}") from exc

    def _now_ms(self) -> int:
        return int(self.wall() * 1000)

    # -- the cache -------------------------------------------------------------------------------

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
