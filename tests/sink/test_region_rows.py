"""The optional region field (CameraEvent, PlateEvent) reaches its ClickHouse column; records
written before it existed (no region) map to null."""

from __future__ import annotations

from platestream.serde import AvroSerde
from services.sink import samples
from services.sink.rows import BY_TABLE, Source

BASE = 1_767_225_600_000


def test_region_maps_to_its_column_and_defaults_to_null() -> None:
    serde = AvroSerde()
    for table, schema in (("camera_events", "camera_event"), ("plate_events", "plate_event")):
        rec = samples.FACTORIES[schema](1, base_ts=BASE)
        with_region = serde.decode(serde.encode(schema, {**rec, "country": "US", "region": "IN"}))
        without = {k: v for k, v in rec.items() if k != "region"}
        old = serde.decode(serde.encode(schema, without))  # a producer that never heard of it
        cols = BY_TABLE[table].columns([with_region, old], [Source("t", 0, 1), Source("t", 0, 2)])
        assert cols["region"] == ["IN", None], table
        assert cols["country"][0] == "US"
