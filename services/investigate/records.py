"""Plate events in, anomaly records out: a prefix decoder of plate events and the record mappers.

The clone detector needs only the first fields of a plate event (ids, camera, plate, confidence,
time, variants); the rest (images, vehicle, enrichment) is most of the decoding cost. Avro's
binary encoding is sequential and fields are only ever added at the end (BACKWARD-compatible
evolution), so reading a record with the writer schema cut after those fields decodes just the
prefix, about five times faster than the whole record. That is only done for writer schemas
whose prefix is exactly the current one; any other schema id is decoded in full.
"""

from __future__ import annotations

import io
from typing import Any

import fastavro

from platestream.errors import BadInputError, SerdeError
from platestream.ids import stable_id
from platestream.limits import MAX_PLATE_CHARS, valid_camera_id
from platestream.serde import (
    SCHEMA_DIR,
    AvroSerde,
    history_files,
    load_schema_file,
    local_schema_id,
    read_schema,
)
from services.enrich.enrichment import CameraInfo
from services.investigate.clones import Finding, Sighting

PREFIX_FIELDS = 13  # event_id .. variants in schemas/plate_event.avsc
MIN_TS_MS, MAX_TS_MS = 946_684_800_000, 4_102_444_800_000  # 2000-01-01, 2100-01-01
_HEADER = 5


def _prefix(raw: dict[str, Any]) -> dict[str, Any]:
    return {**raw, "fields": raw["fields"][:PREFIX_FIELDS]}


class PlateEventDecoder:
    """Decodes the prefix of plate events written with a known schema, the whole record otherwise."""

    def __init__(self, serde: AvroSerde, subject: str | None = None) -> None:
        self._serde = serde
        current = load_schema_file(SCHEMA_DIR / "plate_event.avsc")
        want = _prefix(current)
        self._reader = read_schema(want)
        self._prefix_ids: set[int] = {serde.schema_id("plate_event", subject)}
        self._prefix_ids.add(serde.schema_id("plate_event"))
        for path in history_files():
            if path.name.startswith("plate_event."):
                old = load_schema_file(path)
                if _prefix(old)["fields"] == want["fields"]:
                    self._prefix_ids.add(local_schema_id(fastavro.parse_schema(old)))  # type: ignore[arg-type]
        self.full_decodes = 0

    def decode(self, data: bytes | None) -> dict[str, Any]:
        if data is None or len(data) < _HEADER or data[0] != 0:
            raise SerdeError("not an Avro record in the wire format")
        sid = int.from_bytes(data[1:_HEADER], "big")
        if sid not in self._prefix_ids:
            self.full_decodes += 1
            return self._serde.decode(data)
        try:
            rec: dict[str, Any] = fastavro.schemaless_reader(  # type: ignore[assignment]
                io.BytesIO(data[_HEADER:]), self._reader, None
            )
        except Exception as exc:  # fastavro raises EOFError, ValueError and its own errors
            raise SerdeError(f"cannot decode plate event prefix: {exc}") from exc
        if self._serde.shredder is not None:
            rec = self._serde.shredder.open("plate_event", rec)
        return rec


def sighting(rec: dict[str, Any], camera: CameraInfo | None) -> Sighting | None:
    """The sighting of a plate event at a camera with a position; None when it has none.

    Raises BadInputError for a record no stage should have written (the caller dead-letters it)."""
    plate, camera_id, ts = rec["plate"], rec["camera_id"], rec["ts"]
    if not isinstance(plate, str) or not 0 < len(plate) <= MAX_PLATE_CHARS:
        raise BadInputError(f"plate of {len(plate) if isinstance(plate, str) else '?'} characters")
    if not valid_camera_id(camera_id):
        raise BadInputError("camera_id is not a valid camera id")
    confidence = rec["confidence"]
    if not 0.0 <= confidence <= 1.0:
        raise BadInputError(f"confidence {confidence!r} outside 0..1")
    if not MIN_TS_MS <= ts < MAX_TS_MS:
        raise BadInputError(f"ts {ts!r} outside 2000..2100")
    if camera is None or camera.lat is None or camera.lon is None:
        return None
    variants = rec.get("variants") or ()
    return Sighting(
        event_id=rec["event_id"],
        camera_id=camera_id,
        plate=plate,
        ts=int(ts),
        confidence=float(confidence),
        lat=camera.lat,
        lon=camera.lon,
        site=camera.site,
        variants=tuple(variants[:16]),
    )


def sighting_record(s: Sighting) -> dict[str, Any]:
    return {
        "event_id": s.event_id,
        "camera_id": s.camera_id,
        "plate": s.plate,
        "ts": s.ts,
        "confidence": s.confidence,
        "site": s.site,
        "lat": s.lat,
        "lon": s.lon,
        "variants": list(s.variants),
    }


def anomaly_id(f: Finding) -> str:
    return stable_id("anomaly", f.first.event_id, f.second.event_id)


def anomaly_record(
    f: Finding, *, limit_kmh: float, emitted_at: int, event_logged_at: int | None
) -> dict[str, Any]:
    """The PlateAnomaly record of a finding."""
    return {
        "anomaly_id": anomaly_id(f),
        "kind": f.kind,
        "plate": f.second.plate,
        "camera_id": f.second.camera_id,
        "ts": f.second.ts,
        "distance_km": f.distance_km,
        "seconds_apart": f.seconds_apart,
        "speed_kmh": f.speed_kmh,
        "limit_kmh": limit_kmh,
        "min_travel_s": f.min_travel_s,
        "reason": f.reason,
        "first": sighting_record(f.first),
        "second": sighting_record(f.second),
        "event_logged_at": event_logged_at,
        "emitted_at": emitted_at,
    }
