"""The subject-key bucket's objects: key trees and the per-key objects of the first build.

A tree is the object ``trees/<tree8>-<created>-<keep>-<seal until>-<expires>`` (milliseconds),
so a listing tells each tree's lifetime and a stage reads a tree's frontier only when it seals
or opens with that tree (platestream/privacy/subject_keys.py). Trees written before their
lifetime was in the name are ``trees/<tree8>``: their lifetime is inside, so they are read at
once. Every call is tried three times over about a second, then ``KeyStoreUnavailable``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from platestream.errors import PlatestreamError
from platestream.privacy.key_tree import KeyTree

if TYPE_CHECKING:
    from minio import Minio

TREES = "trees/"
MISSING = ("NoSuchKey", "NoSuchObject", "NoSuchBucket")


class KeyStoreUnavailable(PlatestreamError):
    """The subject-key bucket did not answer: the stage stops and retries, nothing is lost."""


def tree_object(name: str, tree: KeyTree) -> str:
    """The object of tree ``name``: its lifetime in the name, for listings to read."""
    times = (tree.created_ms, tree.keep_ms, tree.seal_until_ms, tree.expires_ms)
    return f"{TREES}{name}-" + "-".join(str(t) for t in times)


def listed_tree(obj_name: str) -> tuple[str, KeyTree | None]:
    """(tree name, its lifetime as a tree with no frontier yet); None for a name without one."""
    base = obj_name[len(TREES) :]
    name, *times = base.split("-")
    if len(times) == 4 and all(t.isdigit() for t in times):
        created, keep, seal_until, expires = (int(t) for t in times)
        return name, KeyTree(created, {}, keep, seal_until, expires)
    return base, None


class KeyBucket:
    """Reads, writes, lists and deletes the bucket's objects."""

    def __init__(self, s3: Minio, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket
        self._ready = False

    def list_trees(self) -> list[tuple[str, str | None]]:
        """(object name, etag) of every tree."""
        return [(str(o.object_name), o.etag) for o in self._objects(TREES)]

    def names(self, prefix: str) -> list[str]:
        """The per-key objects of one subject from builds before the trees."""
        return sorted(str(o.object_name) for o in self._objects(prefix + "/"))

    def _objects(self, prefix: str) -> list[Any]:
        """The objects under ``prefix``; none while the bucket does not exist."""
        from minio.error import S3Error

        def listed() -> list[Any]:
            try:
                found = self.s3.list_objects(self.bucket, prefix=prefix)
                # SeaweedFS lists an emptied "folder" as a directory entry: not an object
                return [o for o in found if not o.is_dir]
            except S3Error as exc:
                if exc.code == "NoSuchBucket":
                    return []
                raise

        return self.call("list", listed)  # type: ignore[no-any-return]

    def read(self, obj_name: str) -> bytes | None:
        """The object's body; None when it is not there."""
        from minio.error import S3Error

        def read() -> bytes | None:
            try:
                resp = self.s3.get_object(self.bucket, obj_name)
            except S3Error as exc:
                if exc.code in MISSING:
                    return None
                raise
            try:
                return resp.read()  # type: ignore[no-any-return]
            finally:
                resp.close()
                resp.release_conn()

        return self.call("get", read)  # type: ignore[no-any-return]

    def put(self, obj_name: str, body: bytes) -> str | None:
        """Write the object; its etag."""
        if not self._ready:
            from platestream.s3 import ensure_bucket

            self.call("make bucket", lambda: ensure_bucket(self.s3, self.bucket))
            self._ready = True
        result = self.call(
            "put", lambda: self.s3.put_object(self.bucket, obj_name, io.BytesIO(body), len(body))
        )
        return getattr(result, "etag", None)

    def delete(self, obj_name: str) -> None:
        self.call("delete", lambda: self.s3.remove_object(self.bucket, obj_name))

    def call(self, what: str, fn: Callable[[], Any]) -> Any:
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
