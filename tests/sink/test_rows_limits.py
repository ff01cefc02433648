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
