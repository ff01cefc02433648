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

import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from platestream.plates import fold
from services.enrich.passage import Passage, Read, TopicPartition
from services.enrich.voting import within


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
        # What `due` looks at instead of every open passage (it runs after every poll): the lanes
        # that took a read and the cameras whose event time moved since it last ran (only those can
        # meet the gap or duration test), and a heap of idle deadlines (wall clock), each passage
        # in it once, pushed again with its new deadline when a read reached it meanwhile.
        self._touched: set[tuple[str, int | None]] = set()
        self._advanced: set[str] = set()
        self._lanes: dict[str, set[int | None]] = {}  # camera -> lanes with open passages
        self._idle: list[tuple[int, int, Passage]] = []
        self._seq = itertools.count()

    def add(self, read: Read, wall_ms: int) -> tuple[Passage | None, bool]:
        """Add a read. Returns (passage, opened); passage is None when a hold absorbed the read."""
        cfg = self.config
        cam = read.camera_id
        if read.ts > self.watermark.get(cam, -1):
            self.watermark[cam] = read.ts
            self._advanced.add(cam)
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
            self._touched.add(key)
            return best, False
        held = self._held(key, read)
        if held is not None:
            held.last_seen = max(held.last_seen, read.ts)
            held.absorbed += 1
            self.absorbed += 1
            return None, False
        passage = Passage(read, wall_ms)
        self.open.setdefault(key, []).append(passage)
        self._lanes.setdefault(cam, set()).add(read.lane)
        self._touched.add(key)
        heapq.heappush(self._idle, (wall_ms + cfg.idle_close_ms, next(self._seq), passage))
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
        keys, self._touched = self._touched, set()
        for cam in self._advanced:
            keys.update((cam, lane) for lane in self._lanes.get(cam, ()))
        self._advanced = set()
        for key in keys:
            passages = self.open.get(key)
            if not passages:
                continue
            wm = self.watermark.get(key[0], 0)
            closing = [
                p
                for p in passages
                if wm - p.last_seen > cfg.gap_ms
                or wall_ms - p.last_wall > cfg.idle_close_ms
                or p.last_seen - p.first_seen >= cfg.max_passage_ms
            ]
            if closing:
                self._close(key, closing)
                out.extend(closing)
        idle = self._idle
        while idle and idle[0][0] < wall_ms:
            p = heapq.heappop(idle)[2]
            if p.closed:
                continue
            if wall_ms - p.last_wall > cfg.idle_close_ms:
                self._close(p.key, [p])
                out.append(p)
            else:  # a read reached it since it was pushed
                heapq.heappush(idle, (p.last_wall + cfg.idle_close_ms, next(self._seq), p))
        return out

    def _close(self, key: tuple[str, int | None], closing: list[Passage]) -> None:
        """Take ``closing`` (passages open at ``key``) out of the open passages."""
        for p in closing:
            p.closed = True
        gone = {id(p) for p in closing}
        kept = [p for p in self.open[key] if id(p) not in gone]
        if kept:
            self.open[key] = kept
            return
        del self.open[key]
        lanes = self._lanes.get(key[0])
        if lanes is not None:
            lanes.discard(key[1])
            if not lanes:
                del self._lanes[key[0]]

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
            gone = [p for p in self.open[key] if set(p.offsets) & tps]
            if gone:
                dropped += len(gone)
                self._close(key, gone)
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
