"""One vehicle's passage past one camera and lane while it is open: its reads and their variants.

``Read`` is what enrich keeps of a PlateRead (or a device's read); ``Passage`` gathers the reads
that ``PassageTracker`` (dedup.py) groups together, keeps each variant's confidence sums for the
vote (voting.py), and answers how far a new read's plate is from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from platestream.ids import stable_id
from services.enrich.voting import consensus, within

TopicPartition = tuple[str, int]
MAX_READ_IDS = 500  # read ids carried on one event (a parked car may give thousands)
MAX_COMPARED_VARIANTS = 12  # variants of a passage compared with a new read
ATTRS = (
    "direction",
    "direction_raw",
    "country",
    "region",
    "plate_format",
    "vehicle_type",
    "vehicle_color",
    "vehicle_make",
    "vehicle_model",
)
ATTR_READS = 8  # vehicle attributes are taken from the first reads that carry them


@dataclass(slots=True)
class Read:
    """One plate read, from our detector or from a device, in the shape dedup needs."""

    read_id: str
    camera_id: str
    lane: int | None
    ts: int
    plate: str
    confidence: float
    source: str = "detector"
    char_confidences: list[float] = field(default_factory=list)
    received_at: int | None = None
    box: tuple[int, int, int, int] | None = None  # x, y, w, h
    crop: dict[str, Any] | None = None
    images: list[dict[str, Any]] = field(default_factory=list)
    direction: str | None = None
    direction_raw: str | None = None
    plate_format: str | None = None
    country: str | None = None
    vehicle_type: str | None = None
    vehicle_color: str | None = None
    vehicle_make: str | None = None
    vehicle_model: str | None = None
    tp: TopicPartition = ("", 0)
    offset: int = -1
    region: str | None = None  # state or province (ISO 3166-2 subdivision part), from devices


class Passage:
    """An open group of reads of one vehicle at one camera and lane."""

    __slots__ = (
        "alerted",
        "best",
        "closed",
        "count",
        "early_checked",
        "event_id",
        "first_box",
        "first_read",
        "first_seen",
        "key",
        "last_box",
        "last_seen",
        "last_wall",
        "offsets",
        "read_ids",
        "reads_by_variant",
        "received_at",
        "sample",
        "variants",
    )

    def __init__(self, read: Read, wall_ms: int) -> None:
        self.key = (read.camera_id, read.lane)
        self.closed = False  # taken out of the open passages (emitted or dropped)
        self.first_read = read
        self.event_id = stable_id(read.camera_id, read.lane, read.read_id)
        self.best = read
        self.count = 0
        self.first_seen = read.ts
        self.last_seen = read.ts
        self.last_wall = wall_ms
        self.read_ids: list[str] = []
        # plate -> [weight sum, per-position weight sums or None, uniform weight sum]
        self.variants: dict[str, list[Any]] = {}
        self.reads_by_variant: dict[str, int] = {}
        self.offsets: dict[TopicPartition, int] = {}
        self.received_at: int | None = None
        self.first_box: tuple[int, tuple[int, int, int, int]] | None = None
        self.last_box: tuple[int, tuple[int, int, int, int]] | None = None
        self.alerted: set[str] = set()
        self.early_checked: set[str] = set()  # plates already matched for early alerts
        self.sample: list[Read] = []  # the first reads, for vehicle attributes (see attrs)
        self.add(read, wall_ms)

    def add(self, read: Read, wall_ms: int) -> None:
        self.count += 1
        if len(self.read_ids) < MAX_READ_IDS:
            self.read_ids.append(read.read_id)
        if read.ts < self.first_seen:
            self.first_seen = read.ts
        if read.ts > self.last_seen:
            self.last_seen = read.ts
        self.last_wall = wall_ms
        if read.confidence > self.best.confidence:
            self.best = read
        plate = read.plate
        conf = read.confidence
        weights = read.char_confidences
        stats = self.variants.get(plate)
        # [sum of read confidences, per-position sums of character confidences or None while every
        #  read of this variant came without them (then each position weighs the read confidence)]
        if stats is None:
            per = list(weights) if len(weights) == len(plate) and weights else None
            self.variants[plate] = [conf, per, conf]
            self.reads_by_variant[plate] = 1
        else:
            stats[0] += conf
            if weights and len(weights) == len(plate):
                per = stats[1]
                if per is None:
                    per = stats[1] = [stats[2]] * len(plate)
                for i, w in enumerate(weights):
                    per[i] += w
            elif stats[1] is not None:
                per = stats[1]
                for i in range(len(per)):
                    per[i] += conf
            else:
                stats[2] += conf
            self.reads_by_variant[plate] += 1
        old = self.offsets.get(read.tp)
        if old is None or read.offset < old:
            self.offsets[read.tp] = read.offset
        if read.received_at is not None and (
            self.received_at is None or read.received_at < self.received_at
        ):
            self.received_at = read.received_at
        if read.box is not None:
            if self.first_box is None or read.ts < self.first_box[0]:
                self.first_box = (read.ts, read.box)
            if self.last_box is None or read.ts >= self.last_box[0]:
                self.last_box = (read.ts, read.box)
        if self.count <= ATTR_READS:
            self.sample.append(read)

    @property
    def attrs(self) -> dict[str, str]:
        """Direction, country, format and vehicle fields: the first value the early reads carry."""
        out: dict[str, str] = {}
        for read in self.sample:
            for name in ATTRS:
                value = getattr(read, name)
                if value and name not in out:
                    out[name] = value
        return out

    def distance(self, plate: str, limit: float) -> float:
        """Smallest distance from ``plate`` to the passage's most supported variants."""
        if plate in self.variants:
            return 0.0
        best = limit + 1.0
        variants = self.variants
        if len(variants) > MAX_COMPARED_VARIANTS:
            ranked = sorted(variants, key=lambda v: -variants[v][0])[:MAX_COMPARED_VARIANTS]
        else:
            ranked = list(variants)
        for v in ranked:
            d = within(plate, v, limit)
            if d is not None and d < best:
                best = d
        return best

    def consensus(self) -> tuple[str, float]:
        return consensus(
            {
                v: (s[0], s[1] if s[1] is not None else [s[0]] * len(v))
                for v, s in self.variants.items()
            },
            self.best.confidence,
        )
