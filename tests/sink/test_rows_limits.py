"""The sink's row validation refuses plate text over the caps and camera ids that are not ids."""

from __future__ import annotations

import pytest

from platestream.errors import BadInputError
from services.sink.rows import BY_TABLE

TS = 1_700_000_000_000


@pytest.mark.parametrize(
    ("table", "field", "value", "why"),
    [
        ("plate_reads", "plate", "A" * 33, "plate of 33 characters exceeds 32"),
        ("camera_events", "plate_raw", "A" * 65, "plate_raw of 65 characters exceeds 64"),
        ("camera_events", "camera_id", "..", "camera_id '..'"),
        ("plate_events", "camera_id", "a/b", "camera_id 'a/b'"),
    ],
)
def test_records_breaking_the_caps_are_refused(
    table: str, field: str, value: str, why: str
) -> None:
    mapping = BY_TABLE[table]
    mapping.validate({"ts": TS, "camera_id": "cam-1", "plate": "AB123"})
    with pytest.raises(BadInputError, match=why):
        mapping.validate({"ts": TS, "camera_id": "cam-1", "plate": "AB123", field: value})


def test_a_record_whose_image_key_no_store_takes_is_refused_alone() -> None:
    mapping = BY_TABLE["camera_events"]
    image = {"kind": "plate", "content_type": "image/jpeg", "data": b"\xff\xd8\xff\x00"}
    ok = {"event_id": "e-1", "ts": TS, "camera_id": "cam-1", "images": [image]}
    mapping.validate(ok)
    for event_id in ("a/../b", "x" * 1100, "\x1f"):
        with pytest.raises(BadInputError, match="object key"):
            mapping.validate({**ok, "event_id": event_id})
