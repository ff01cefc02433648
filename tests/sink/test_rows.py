"""Record -> column mappers and the image keys both sinks compute."""

from __future__ import annotations

import pytest

from platestream.errors import BadInputError
from platestream.images import image_key
from platestream.serde import AvroSerde
from services.sink import samples
from services.sink.imagekeys import image_slots
from services.sink.rows import BY_TABLE, TABLES, Source

BASE = 1_763_700_000_000  # 2025-11-21T04:40:00Z


def test_every_factory_record_encodes_and_maps_to_every_column() -> None:
    serde = AvroSerde()
    for t in TABLES:
        rec = serde.decode(serde.encode(t.schema, samples.FACTORIES[t.schema](1, base_ts=BASE)))
        t.validate(rec)
        cols = t.columns([rec], [Source("topic-a", 2, 41)])
        assert cols["topic"] == ["topic-a"] and cols["partition"] == [2] and cols["offset"] == [41]
        assert all(len(v) == 1 for v in cols.values()), t.table


def test_plate_event_columns_and_image_keys() -> None:
    rec = samples.plate_event(7, base_ts=BASE, with_images=True)
    cols = BY_TABLE["plate_events"].columns([rec], [Source("t", 0, 9)])
    best = image_key("crops", rec["camera_id"], rec["ts"], rec["event_id"], "plate", "image/jpeg")
    vehicle = image_key(
        "images", rec["camera_id"], rec["ts"], rec["event_id"], "vehicle", "image/jpeg"
    )
    assert cols["best_crop_key"] == [best]
    assert cols["image_keys"] == [[best, vehicle]]
    assert cols["image_kinds"] == [["plate", "vehicle"]]
    assert cols["ts"] == [rec["ts"]] and cols["plate"] == [rec["plate"]] and cols["version"] == [1]
    assert best.startswith(f"crops/{rec['camera_id']}/2025/11/21/04/")


def test_claim_checked_image_keeps_its_key_and_carries_no_bytes() -> None:
    rec = samples.plate_read(1, base_ts=BASE, s3_key="frames/cam/x-crop.jpg")
    slots = image_slots("plate_read", rec)
    assert [(s.key, s.data) for s in slots] == [("frames/cam/x-crop.jpg", None)]
    cols = BY_TABLE["plate_reads"].columns([rec], [Source("t", 0, 0)])
    assert cols["crop_key"] == ["frames/cam/x-crop.jpg"]
    assert cols["plate_box"] == [[1, 2, 30, 10]] and cols["vehicle_box"] == [[]]


def test_repeated_kinds_get_distinct_keys() -> None:
    rec = samples.camera_event(1, base_ts=BASE)
    rec["images"] = [
        samples.image("vehicle"),
        samples.image("vehicle"),
        samples.image("scene", data=None),
    ]
    keys = [s.key for s in image_slots("camera_event", rec)]
    assert len(keys) == 2 and len(set(keys)) == 2  # the image with neither bytes nor key is skipped
    assert keys[1].endswith("-vehicle-2.jpg")


def test_camera_event_without_plate_maps_to_empty_string() -> None:
    rec = samples.camera_event(5, base_ts=BASE)  # i % 5 == 0: no read
    assert rec["plate"] is None
    assert BY_TABLE["camera_events"].columns([rec], [Source("t", 0, 0)])["plate"] == [""]


@pytest.mark.parametrize(
    ("table", "field", "value"),
    [
        ("plate_events", "ts", 0),
        ("plate_events", "version", -1),
        ("audit_log", "status", 70000),
        ("alert_deliveries", "attempts", -3),
    ],
)
def test_validate_rejects_rows_that_would_poison_a_table(
    table: str, field: str, value: int
) -> None:
    t = BY_TABLE[table]
    rec = samples.FACTORIES[t.schema](1, base_ts=BASE)
    rec[field] = value
    with pytest.raises(BadInputError, match=field):
        t.validate(rec)


def test_frame_images_go_under_frames() -> None:
    rec = {"frame_id": "f-1", "camera_id": "cam 1", "ts": BASE, "image": samples.image("frame")}
    (slot,) = image_slots("frame", rec)
    assert slot.key == image_key("frames", "cam 1", BASE, "f-1", "frame", "image/jpeg")
    assert slot.key.startswith("frames/cam_1/2025/11/21/04/")
