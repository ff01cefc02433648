"""Camera join, direction and region of a passage; the PlateEvent record it becomes."""

from __future__ import annotations

from services.enrich.enrichment import Cameras, direction_of, event_record, plate_region
from services.enrich.passage import Passage, Read


def _read(i: int, box: tuple[int, int, int, int] | None = None, **kw: object) -> Read:
    return Read(
        read_id=f"r{i}",
        camera_id="gate",
        lane=2,
        ts=1000 + i * 100,
        plate="ABC1D23",
        confidence=0.7 + i / 100,
        box=box,
        tp=("t", 0),
        offset=i,
        received_at=900 + i,
        **kw,
    )  # type: ignore[arg-type]


def _cameras() -> Cameras:
    cams = Cameras()
    cams.apply(
        "gate",
        {
            "camera_id": "gate",
            "name": "Main gate",
            "site": "HQ",
            "zone": "north",
            "lat": 1.5,
            "lon": 2.5,
            "heading": 90.0,
            "direction_map": {"Forward": "approaching", "Reverse": "leaving"},
            "plate_formats": ["BR"],
            "updated_at": 0,
        },
    )
    return cams


def test_direction_from_device_value_through_the_camera_map() -> None:
    cams = _cameras()
    p = Passage(_read(0, direction_raw="reverse"), 0)
    assert direction_of(p, cams.get("gate")) == "leaving"
    p = Passage(_read(0, direction_raw="sideways", direction="approaching"), 0)
    assert direction_of(p, cams.get("gate")) == "approaching"


def test_direction_from_plate_box_growth() -> None:
    p = Passage(_read(0, box=(10, 10, 60, 20)), 0)
    p.add(_read(1, box=(10, 10, 90, 30)), 0)
    assert direction_of(p, None) == "approaching"
    p = Passage(_read(0), 0)
    assert direction_of(p, None) == "unknown"


def test_region_from_the_camera_formats() -> None:
    assert plate_region("ABC1D23", ("BR",)) == ("BR_MERCOSUR", "BR")
    assert plate_region("ABC1234", ("BR",)) == ("BR_OLD", "BR")
    assert plate_region("ABC1234", ("US",)) == ("US_NY", "US")
    assert plate_region("AB12CDE", ()) == ("GB", "GB")
    assert plate_region("??", ()) == (None, None)


def test_event_record_joins_camera_metadata() -> None:
    cams = _cameras()
    p = Passage(_read(0), 0)
    p.add(_read(1), 0)
    ev = event_record(
        p,
        plate="ABC1D23",
        confidence=0.71,
        camera=cams.get("gate"),
        hits=["e1"],
        status="watchlisted",
        emitted_at=5000,
    )
    assert (ev["camera_name"], ev["site"], ev["zone"], ev["lat"], ev["lon"], ev["heading"]) == (
        "Main gate",
        "HQ",
        "north",
        1.5,
        2.5,
        90.0,
    )
    assert (ev["plate_format"], ev["country"]) == ("BR_MERCOSUR", "BR")
    assert (ev["read_count"], ev["best_read_id"], ev["first_seen"], ev["last_seen"]) == (
        2,
        "r1",
        1000,
        1100,
    )
    assert (ev["received_at"], ev["emitted_at"], ev["version"], ev["lane"]) == (900, 5000, 0, 2)
    assert ev["access_status"] == "watchlisted" and ev["watchlist_hits"] == ["e1"]
    cams.apply("gate", None)
    assert cams.get("gate") is None


def test_a_devices_state_goes_with_its_country_onto_the_event() -> None:
    from platestream.serde import AvroSerde

    p = Passage(_read(0, country="US", region="IN"), 0)
    p.add(_read(1), 0)
    ev = event_record(
        p, plate="ABC1D23", confidence=0.7, camera=None, hits=[], status="unknown", emitted_at=1
    )
    assert (ev["country"], ev["region"]) == ("US", "IN")
    assert AvroSerde().decode(AvroSerde().encode("plate_event", ev))["region"] == "IN"
    # a country worked out from the plate format carries no state
    ev = event_record(
        Passage(_read(0, region="IN"), 0),
        plate="ABC1D23",
        confidence=0.7,
        camera=_cameras().get("gate"),
        hits=[],
        status="unknown",
        emitted_at=1,
    )
    assert (ev["country"], ev["region"]) == ("BR", None)
