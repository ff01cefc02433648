"""Passage deduplication: many reads of one vehicle at one camera and lane become one passage.

Pure logic, no Kafka: the processor feeds reads in, asks which passages are due, and turns a
closed passage into a PlateEvent. Reads are grouped per (camera, lane) when their plates are within
``max_distance`` (weighted edit distance, OCR-confusable characters cheaper) and their times within
``gap_ms``. A passage closes when the camera's event time has moved more than ``gap_ms`` past its
last read, or when no read reached it for ``idle_close_ms`` of wall-clock time (so the last vehicle
of a quiet camera is emitted), or when it has lasted ``max_passage_ms`` (a parked vehicle).
After closing, a *hold* remembers the plate for ``holdoff_ms``: further reads of it at the same
camera/lane (a parked car still in view, a car standing at a barrier) are absorbed, not re-emitted.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from platestream.ids import stable_id
from platestream.plates import fold
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


@dataclass(slots=True)
class Hold:
    """A closed passage's plate, absorbing further reads of the same vehicle for a while."""

    plate: str
    variants: set[str]
    event_id: str
    last_seen: int
    absorbed: int = 0


@dataclass
class DedupConfig:
    max_distance: float = 2.0
    gap_ms: int = 3000
    idle_close_ms: int = 3000
    max_passage_ms: int = 30_000
    holdoff_ms: int = 60_000


class PassageTracker:
    """Open passages and holds of every (camera, lane) this process owns."""

    def __init__(self, config: DedupConfig) -> None:
        self.config = config
        self.open: dict[tuple[str, int | None], list[Passage]] = {}
        self.holds: dict[tuple[str, int | None], list[Hold]] = {}
        # Per (camera, lane): folded hold plates aligned with self.holds, and variant -> hold, so a
        # busy lane's thousands of holds are searched in C (rapidfuzz) instead of a Python loop.
        self._hold_folded: dict[tuple[str, int | None], list[str]] = {}
        self._hold_variants: dict[tuple[str, int | None], dict[str, Hold]] = {}
        self.watermark: dict[str, int] = {}  # camera -> max event time seen
        self.absorbed = 0

    def add(self, read: Read, wall_ms: int) -> tuple[Passage | None, bool]:
        """Add a read. Returns (passage, opened); passage is None when a hold absorbed the read."""
        cfg = self.config
        cam = read.camera_id
        if read.ts > self.watermark.get(cam, -1):
            self.watermark[cam] = read.ts
        key = (cam, read.lane)
        candidates = self.open.get(key)
        best: Passage | None = None
        best_d = cfg.max_distance + 1.0
        if candidates:
            for p in candidates:
                if read.ts - p.last_seen > cfg.gap_ms or p.first_seen - read.ts > cfg.gap_ms:
                    continue
                d = p.distance(read.plate, cfg.max_distance)
                if d <= cfg.max_distance and d < best_d:
                    best, best_d = p, d
        if best is not None:
            best.add(read, wall_ms)
            return best, False
        held = self._held(key, read)
        if held is not None:
            held.last_seen = max(held.last_seen, read.ts)
            held.absorbed += 1
            self.absorbed += 1
            return None, False
        passage = Passage(read, wall_ms)
        self.open.setdefault(key, []).append(passage)
        return passage, True

    def _held(self, key: tuple[str, int | None], read: Read) -> Hold | None:
        """The hold (if any) that absorbs this read: same variant, or within max_distance."""
        holds = self.holds.get(key)
        if not holds:
            return None
        cfg = self.config
        exact = self._hold_variants[key].get(read.plate)
        if exact is not None and read.ts - exact.last_seen <= cfg.holdoff_ms:
            return exact
        matches = process.extract(
            fold(read.plate),
            self._hold_folded[key],
            scorer=Levenshtein.distance,
            score_cutoff=int(cfg.max_distance),
            limit=None,
        )
        for _choice, _score, index in sorted(matches, key=lambda m: m[2]):
            h = holds[index]
            if (
                read.ts - h.last_seen <= cfg.holdoff_ms
                and within(read.plate, h.plate, cfg.max_distance) is not None
            ):
                return h
        return None

    def _index_holds(self, key: tuple[str, int | None]) -> None:
        holds = self.holds.get(key)
        if not holds:
            self._hold_folded.pop(key, None)
            self._hold_variants.pop(key, None)
            return
        self._hold_folded[key] = [fold(h.plate) for h in holds]
        self._hold_variants[key] = {v: h for h in holds for v in h.variants}

    def due(self, wall_ms: int) -> list[Passage]:
        """Remove and return the passages that must close now (gap, idle or max duration)."""
        cfg = self.config
        out: list[Passage] = []
        empty = []
        for key, passages in self.open.items():
            wm = self.watermark.get(key[0], 0)
            keep = []
            for p in passages:
                if (
                    wm - p.last_seen > cfg.gap_ms
                    or wall_ms - p.last_wall > cfg.idle_close_ms
                    or p.last_seen - p.first_seen >= cfg.max_passage_ms
                ):
                    out.append(p)
                else:
                    keep.append(p)
            if keep:
                passages[:] = keep
            else:
                empty.append(key)
        for key in empty:
            del self.open[key]
        return out

    def hold(self, passage: Passage, plate: str) -> None:
        """Remember a closed passage so that more reads of the same vehicle are absorbed."""
        if self.config.holdoff_ms <= 0:
            return
        h = Hold(
            plate=plate,
            variants=set(passage.variants),
            event_id=passage.event_id,
            last_seen=passage.last_seen,
        )
        self.holds.setdefault(passage.key, []).append(h)
        self._hold_folded.setdefault(passage.key, []).append(fold(plate))
        variants = self._hold_variants.setdefault(passage.key, {})
        for v in h.variants:
            variants.setdefault(v, h)

    def expire_holds(self) -> int:
        """Drop holds whose vehicle has not been seen for ``holdoff_ms`` of the camera's event time."""
        dropped = 0
        for key in list(self.holds):
            wm = self.watermark.get(key[0], 0)
            kept = [h for h in self.holds[key] if wm - h.last_seen <= self.config.holdoff_ms]
            if len(kept) == len(self.holds[key]):
                continue
            dropped += len(self.holds[key]) - len(kept)
            if kept:
                self.holds[key] = kept
            else:
                del self.holds[key]
            self._index_holds(key)
        return dropped

    def passages(self) -> Iterator[Passage]:
        for passages in self.open.values():
            yield from passages

    def drop_partitions(self, tps: set[TopicPartition]) -> int:
        """Forget open passages fed from revoked partitions (the next owner re-reads them)."""
        dropped = 0
        for key in list(self.open):
            kept = [p for p in self.open[key] if not (set(p.offsets) & tps)]
            dropped += len(self.open[key]) - len(kept)
            if kept:
                self.open[key] = kept
            else:
                del self.open[key]
        return dropped

    def min_open_offsets(self) -> dict[TopicPartition, int]:
        """Per partition, the offset of the oldest read of a still-open passage."""
        out: dict[TopicPartition, int] = {}
        for p in self.passages():
            for tp, off in p.offsets.items():
                cur = out.get(tp)
                if cur is None or off < cur:
                    out[tp] = off
        return out
