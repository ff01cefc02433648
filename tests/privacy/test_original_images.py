"""Unredacted originals (issue 17 item 3): the API presigns a key under originals/ only for the
roles PLATESTREAM_API_ORIGINAL_IMAGE_ROLES names, and only when the sink kept one. Pure logic:
the bucket is a stand-in that records what it was asked."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from minio.error import S3Error

from platestream.redact import original_key
from services.api.routes.events import presign, presign_original
from services.api.settings import ApiSettings


class Bucket:
    def __init__(self, keys: set[str]) -> None:
        self.keys = keys
        self.signed: list[str] = []

    def stat_object(self, bucket: str, key: str) -> Any:
        if key not in self.keys:
            raise S3Error("NoSuchKey", "missing", key, "r", "h", None)  # type: ignore[arg-type]
        return SimpleNamespace(object_name=key)

    def presigned_get_object(self, bucket: str, key: str, expires: Any) -> str:
        self.signed.append(key)
        return f"https://bucket.invalid/{key}?sig"


def _state(roles: list[str], keys: set[str]) -> Any:
    return SimpleNamespace(settings=ApiSettings(api_original_image_roles=roles), s3=Bucket(keys))


def test_originals_are_signed_only_for_the_named_roles_and_only_when_kept() -> None:
    scene = "images/cam-1/2026/12/02/ev-scene.jpg"
    state = _state(["admin"], {original_key(scene)})
    assert presign(state, scene) is not None  # the redacted image: for everyone who may search
    assert presign(state, original_key(scene)) is None  # never through the plain path
    assert presign(state, original_key(scene), role="analyst") is None
    assert presign_original(state, scene, "analyst") is None
    assert (
        presign_original(state, scene, "admin")
        == f"https://bucket.invalid/{original_key(scene)}?sig"
    )
    assert presign_original(state, "images/cam-1/other.jpg", "admin") is None  # none kept
    assert state.s3.signed == [scene, original_key(scene)]


def test_no_role_sees_originals_by_default() -> None:
    scene = "images/cam-1/x.jpg"
    state = _state(ApiSettings().api_original_image_roles, {original_key(scene)})
    assert ApiSettings().api_original_image_roles == []
    assert all(presign_original(state, scene, r) is None for r in ("admin", "operator", "analyst"))
