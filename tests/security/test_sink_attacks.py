"""A record whose images cannot have an object key, against a running S3 sink: dead-lettered."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from platestream.s3 import make_s3
from platestream.settings import CommonSettings
from services.sink import samples
from services.sink.imagekeys import image_slots
from tests.sink.helpers import dead_letters, produce, sink_settings, sink_thread, wait_until

pytestmark = pytest.mark.integration


def test_a_camera_id_of_dot_dot_no_longer_stops_every_image(
    settings: CommonSettings, record_attack: Callable[..., None]
) -> None:
    s = sink_settings(settings)
    s3 = make_s3(s)
    base = 1_700_000_000_000

    def stored(recs: list[dict]) -> set[str]:
        want = {slot.key for r in recs for slot in image_slots("camera_event", r)}
        have = {o.object_name for o in s3.list_objects(s.s3_bucket, recursive=True)}
        return want & have

    warm = [samples.camera_event(1000, base_ts=base, with_images=True)]
    victims = [samples.camera_event(i, base_ts=base, with_images=True) for i in range(20)]
    cameras = sorted({v["camera_id"] for v in victims})
    with sink_thread(s, {"s3"}):
        produce(s, "camera_events", warm)
        wait_until(lambda: len(stored(warm)) == 2, 60, "the sink to write its first images")
        poison = []
        for i, cam in enumerate(cameras):  # ahead of each victim camera in its partition
            rec = samples.camera_event(500 + i, base_ts=base, with_images=True)
            poison.append({**rec, "camera_id": ".."})
            produce(s, "camera_events", [poison[-1]], key=cam.encode())
        started = time.monotonic()
        produce(s, "camera_events", victims)
        wait_until(lambda: len(stored(victims)) > 0, 30, "a first victim image", interval=0.02)
        first = time.monotonic() - started  # how long the poison held the sink (plus one batch)
        wait_until(lambda: len(stored(victims)) == 2 * len(victims), 30, "the victims' images")
        took = time.monotonic() - started
        dead = dead_letters(s, len(poison))
    lost = 2 * len(victims) - len(stored(victims))
    record_attack(
        "S3 sink: camera id '..' with images",
        "sink",
        first,
        lost,
        len(dead),
        f"DLQ; all 40 images in {took:.2f}s",
    )
    assert lost == 0 and first < 2.0 and took < 10.0
    assert len(dead) == len(poison)
    assert all("has an empty, '.' or '..' segment" in d["error"] for d in dead), dead
