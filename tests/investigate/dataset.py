"""A small town for the investigation tests: three road cameras, a car park gate, and plates whose
convoys, trips, travel times and stays are known by hand (the expected values in the tests)."""

from __future__ import annotations

from typing import Any

from platestream.ids import stable_id
from services.investigate.bench import plate_events

HOUR = 3_600_000
DAY = 24 * HOUR
# cameras: id -> (site, lat, lon)
CAMERAS = {
    "cam-1": ("alpha", 51.500, -0.200),
    "cam-2": ("bravo", 51.520, -0.150),
    "cam-3": ("charlie", 51.540, -0.100),
    "gate": ("park", 51.510, -0.170),
}
TARGET, BUDDY, SOMETIMES, FAR = "TGT0001", "BUD0002", "BUD0003", "FAR0004"


def day_start(base: int, k: int) -> int:
    """08:00 of day k after base (base is a UTC midnight)."""
    return base + k * DAY + 8 * HOUR


def passages(base: int) -> list[tuple[str, str, int, str | None]]:
    """(plate, camera, ts, direction) of the town's month."""
    out: list[tuple[str, str, int, str | None]] = []
    for k in range(3):
        t0, extra = day_start(base, k), 60_000 * k
        out += [
            (TARGET, "cam-1", t0, None),
            (TARGET, "cam-2", t0 + 600_000 + extra, None),
            (TARGET, "cam-3", t0 + 1_500_000 + extra, None),
            (BUDDY, "cam-1", t0 + 20_000, None),
            (BUDDY, "cam-2", t0 + 630_000 + extra, None),
            (FAR, "cam-1", t0 + 300_000, None),
        ]
        if k < 2:
            out.append((SOMETIMES, "cam-1", t0 + 40_000, None))
    park = base + 9 * HOUR
    out += [
        ("PRK0001", "gate", park, "approaching"),
        ("PRK0001", "gate", park + 1_800_000, "leaving"),  # stay of 1,800 s
        ("PRK0002", "gate", park, "approaching"),
        ("PRK0002", "gate", park + 6 * HOUR, "leaving"),  # stay of 21,600 s
        ("PRK0003", "gate", park + HOUR, "approaching"),  # its exit was missed: dropped
        ("PRK0003", "gate", park + 2 * HOUR, "approaching"),  # still inside
        ("PRK0004", "gate", park, "leaving"),  # an exit without entry: ignored
        ("PRK0005", "gate", park + 3 * HOUR, "approaching"),
        ("PRK000S", "gate", park + 4 * HOUR, "leaving"),  # PRK0005's exit, misread: a 3,600 s stay
    ]
    return out


def events(base: int) -> list[dict[str, Any]]:
    template = plate_events(1, 1)[0]
    out = []
    for i, (plate, cam, ts, direction) in enumerate(passages(base)):
        site, lat, lon = CAMERAS[cam]
        out.append(
            {
                **template,
                "event_id": stable_id("investigation-test", base, i),
                "camera_id": cam,
                "plate": plate,
                "ts": ts,
                "first_seen": ts - 300,
                "last_seen": ts,
                "variants": [plate],
                "direction": direction,
                "site": site,
                "zone": "north" if cam in ("cam-1", "gate") else "south",
                "lat": lat,
                "lon": lon,
            }
        )
    return out


def anomaly(base: int) -> dict[str, Any]:
    from services.sink import samples

    rec = samples.anomaly(1, base_ts=day_start(base, 1))
    return {**rec, "plate": TARGET, "kind": "clone"}
