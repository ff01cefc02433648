"""Redaction where scene images are stored: the S3 sink (PLATESTREAM_SINK_S3_REDACT) blurs the
other plate and the face of a camera event's scene image, leaves its read plate (plate_box) as it
was, keeps the original under originals/ only when asked, and dead-letters an image it cannot
redact instead of storing it. Real broker, registry and bucket; the project's plate detector."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from platestream.redact import ORIGINALS_PREFIX
from platestream.s3 import make_s3
from platestream.timeutil import now_ms
from services.sink import samples
from services.sink.imagekeys import image_slots
from tests.sink.helpers import dead_letters, produce, sink_settings, sink_thread, wait_until

from .test_redact import _pixels, _sharpness, _synthetic_scene, needs_model

pytestmark = [pytest.mark.integration, needs_model]


def _get(s3: Any, bucket: str, key: str) -> bytes | None:
    from minio.error import S3Error

    try:
        resp = s3.get_object(bucket, key)
    except S3Error:
        return None
    try:
        return bytes(resp.read())
    finally:
        resp.close()
        resp.release_conn()


def _event(i: int, base: int, scene: bytes, box: Any) -> dict[str, Any]:
    ev = samples.camera_event(i, base_ts=base)
    ev["images"] = [samples.image("plate"), samples.image("scene", data=scene)]
    ev["plate_box"] = {"x": box.x, "y": box.y, "w": box.w, "h": box.h}
    return ev


def test_the_sink_stores_scene_images_redacted_and_originals_apart(settings: Any) -> None:
    import cv2

    s = sink_settings(settings, sink_s3_redact=True, sink_s3_redact_keep_originals=True)
    s3 = make_s3(s)
    img, (read, other), face = _synthetic_scene()
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    scene = buf.tobytes()
    base = now_ms() - 60_000
    good = _event(1, base, scene, read)
    broken = _event(2, base, b"\xff\xd8 not really a jpeg", read)
    produce(s, "camera_events", [good, broken])
    crop_slot, scene_slot = image_slots("camera_event", good)
    with sink_thread(s, {"s3"}):
        wait_until(lambda: _get(s3, s.s3_bucket, scene_slot.key) is not None, 60, "the scene image")
        dlq = dead_letters(s, 1, timeout=30)
    stored = _get(s3, s.s3_bucket, scene_slot.key)
    assert stored is not None and stored != scene
    before = cv2.imdecode(np.frombuffer(scene, np.uint8), cv2.IMREAD_COLOR)
    after = cv2.imdecode(np.frombuffer(stored, np.uint8), cv2.IMREAD_COLOR)
    assert np.abs(_pixels(after, read).astype(int) - _pixels(before, read)).mean() < 3
    assert _sharpness(after, other) < 0.2 * _sharpness(before, other)
    assert _sharpness(after, face) < 0.2 * _sharpness(before, face)
    # the crop is the read plate itself: stored as it came; the original only under originals/
    assert _get(s3, s.s3_bucket, crop_slot.key) == samples.TINY_JPEG
    assert _get(s3, s.s3_bucket, ORIGINALS_PREFIX + scene_slot.key) == scene
    assert _get(s3, s.s3_bucket, ORIGINALS_PREFIX + crop_slot.key) is None
    # the image that cannot be redacted is not stored; its record is dead-lettered with the reason
    _crop, broken_scene = image_slots("camera_event", broken)
    assert _get(s3, s.s3_bucket, broken_scene.key) is None
    assert len(dlq) == 1 and "cannot be redacted" in str(dlq[0]), dlq


def test_without_the_setting_images_are_stored_as_they_came(settings: Any) -> None:
    s = sink_settings(settings, sink_s3_redact=False)
    s3 = make_s3(s)
    img, (read, _other), _face = _synthetic_scene()
    import cv2

    scene = cv2.imencode(".jpg", img)[1].tobytes()
    ev = _event(3, now_ms() - 60_000, scene, read)
    produce(s, "camera_events", [ev])
    _crop, slot = image_slots("camera_event", ev)
    with sink_thread(s, {"s3"}):
        wait_until(lambda: _get(s3, s.s3_bucket, slot.key) is not None, 60, "the scene image")
    assert _get(s3, s.s3_bucket, slot.key) == scene
    keys = {o.object_name for o in s3.list_objects(s.s3_bucket, recursive=True)}
    assert not any(k.startswith(ORIGINALS_PREFIX) for k in keys)
