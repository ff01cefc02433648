"""Reading one plate crop: margins, text lines, OCR and format-aware choice of the plate text.

The cascade, cheapest first:
1. the whole crop (with margin) as one text line; decoded free and against the camera's formats;
   accepted at once when the crop has a single row's shape (2.6:1 or wider), a specific format
   fits the reading without changing a character and every character is at least
   ``whole_crop_accept`` sure;
2. otherwise (or at once for square-ish two-line plates) the crop's text lines are found with
   PP-OCR's detector, each line is read, and two stacked lines of similar size are also read as
   one plate (top then bottom); dealer names, state names and slogans lose to the line that fits a
   plate format and is tallest.
Every candidate is scored by its decoding log-probability per character, a bonus for fitting a
specific format, and its line height; the best one wins, the others become the top-k candidates.
With a second recogniser (``extra_rec``, e.g. the project's own plate model next to PP-OCR) every
view is read by both and their candidates compete in the same ranking.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from platestream.plate_formats import BY_NAME, FORMATS, PlateFormat
from services.detect import ctc
from services.detect.ocr import PpOcrDet
from services.detect.types import Box, Candidate, Reading

logger = logging.getLogger(__name__)


class Recogniser(Protocol):
    """A text-line recogniser: crops in, ``(T, len(charset))`` CTC probabilities out (0 = blank)."""

    charset: list[str]

    def recognise(self, crops: list[np.ndarray]) -> list[np.ndarray]: ...


@dataclass(frozen=True)
class ReaderConfig:
    """Knobs of the reading cascade (see ``DetectSettings`` for their env names)."""

    margin_x: float = 0.06
    margin_y: float = 0.12
    # a specific format may cost this many nats more than the free reading and still win
    format_slack: float = 6.0
    two_line_aspect: float = 2.6
    size_weight: float = 0.5
    whole_crop_size: float = 0.8
    format_bonus: float = 0.35
    generic_bonus: float = 0.0
    decode_views: int = 2
    # a single-row plate read this surely from its whole crop skips the line views (0: never);
    # single-row: a crop at least this many times wider than tall. 2.6 keeps out two-row plates
    # and US plates (2:1 before margins: their state names need the lines); 2.0 also took loose
    # boxes of EU plates and read 2 more of 500 synthetic EU plates wrong (docs/detect.md)
    whole_crop_accept: float = 0.9
    quick_aspect: float = 2.6
    length_penalty: float = 0.15
    top_k: int = 5
    min_chars: int = 3


@dataclass
class _Scored:
    text: str
    score: float  # ranking score (higher is better)
    logp: float  # path log-probability
    path: ctc.Path
    format_name: str | None
    lines: int
    raw: str


def expand_box(box: Box, mx: float, my: float, width: int, height: int) -> Box:
    """``box`` grown by ``mx``/``my`` of its size on each side, clipped to the image."""
    dx, dy = box.w * mx, box.h * my
    x1, y1 = max(0, int(box.x - dx)), max(0, int(box.y - dy))
    x2, y2 = (
        min(width, math.ceil(box.x + box.w + dx)),
        min(height, math.ceil(box.y + box.h + dy)),
    )
    return Box(x1, y1, max(1, x2 - x1), max(1, y2 - y1))


def crop(img: np.ndarray, box: Box) -> np.ndarray:
    return img[box.y : box.y + box.h, box.x : box.x + box.w]


class PlateReader:
    """Reads plate text from crops with one or two recognisers and, optionally, a line detector."""

    def __init__(
        self,
        *,
        rec: Recogniser,
        line_det: PpOcrDet | None = None,
        config: ReaderConfig | None = None,
        extra_rec: Recogniser | None = None,
    ) -> None:
        self.rec = rec
        self.line_det = line_det
        self.config = config or ReaderConfig()
        self._recs = [(r, ctc.folding_matrix(r.charset)) for r in (rec, extra_rec) if r is not None]

    # -- decoding -------------------------------------------------------------------------------
    def _size_term(self, rel_size: float) -> float:
        # the plate's characters are the biggest text on it: smaller lines (dealer, state, slogan) pay
        return self.config.size_weight * math.log(max(rel_size, 0.05))

    def _decode(
        self,
        p37: np.ndarray,
        free: ctc.Path,
        formats: tuple[PlateFormat, ...],
        lines: int,
        rel_size: float,
    ) -> list[_Scored]:
        out: list[_Scored] = []
        size_term = self._size_term(rel_size)
        n = max(1, len(free.text))
        if len(free.text) >= self.config.min_chars:
            # a reading far shorter or longer than any configured format is likely a fragment
            # (one row of a two-line plate) or text around the plate
            off = _length_gap(len(free.text), formats)
            rank = free.score / n + size_term - self.config.length_penalty * off
            out.append(_Scored(free.text, rank, free.score, free, None, lines, free.text))
        if not formats or not free.text:
            return out
        for path in ctc.constrained(p37, formats, top=3, near_length=len(free.text)):
            slack = free.score - path.score
            if slack > self.config.format_slack:
                continue
            fmt = BY_NAME[path.format_name or "ANY"]
            bonus = self.config.generic_bonus if fmt.generic else self.config.format_bonus
            m = max(1, len(path.text))
            rank = (path.score + fmt.prior) / m + bonus + size_term
            out.append(
                _Scored(path.text, rank, path.score, path, path.format_name, lines, free.text)
            )
        return out

    # -- cascade ----------------------------------------------------------------------------------
    def read(self, plate: np.ndarray, formats: tuple[PlateFormat, ...]) -> Reading | None:
        """The plate text in a BGR crop that already includes a margin, or None if no text.

        The whole crop is read first; a single-row plate whose reading is sure (``_sure``) is
        accepted as it is. Otherwise the views below are read too and all compete: each text line
        the line detector finds, and pairs of stacked lines joined side by side (two-line
        plates, top row first).
        """
        h, w = plate.shape[:2]
        if h < 4 or w < 8:
            return None
        views: list[tuple[np.ndarray, int, float]] = [(plate, 1, self.config.whole_crop_size)]
        memo: dict[tuple[int, int], list[_Scored]] = {}
        quick = self.config.whole_crop_accept > 0 and formats and w / h >= self.config.quick_aspect
        # per recogniser, the folded CTC matrix of each view, in the order of ``views``
        folded: list[list[np.ndarray]] = [[] for _ in self._recs]
        if quick:
            self._add(folded, [plate])
            first = self._scored(views, folded, formats, memo)
            best = max(first, key=lambda s: s.score) if first else None
            if best is not None and self._sure(best):
                return self._reading(best, first)
        if self.line_det is not None:
            views.extend(self._line_views(plate))
        elif w / h < self.config.two_line_aspect:
            views.extend(self._projection_views(plate))
        # the views not read yet, in one batch per recogniser
        self._add(folded, [v for v, _, _ in views[len(folded[0]) :]])
        scored = self._scored(views, folded, formats, memo)
        if not scored:
            return None
        best = max(scored, key=lambda s: s.score)
        return self._reading(best, scored)

    def _add(self, folded: list[list[np.ndarray]], crops: list[np.ndarray]) -> None:
        """Read ``crops`` with every recogniser; their folded CTC matrices join ``folded``."""
        if not crops:
            return
        for per_rec, (rec, folding) in zip(folded, self._recs, strict=True):
            per_rec.extend(ctc.squeeze_blanks(ctc.fold(p, folding)) for p in rec.recognise(crops))

    def _scored(
        self,
        views: list[tuple[np.ndarray, int, float]],
        folded: list[list[np.ndarray]],
        formats: tuple[PlateFormat, ...],
        memo: dict[tuple[int, int], list[_Scored]],
    ) -> list[_Scored]:
        """Every view's candidates; format decoding (the costly part) only for the views whose
        free reading ranks best. ``memo`` keeps the views already decoded with formats, by
        (recogniser, view)."""
        flat = [p for per_rec in folded for p in per_rec]
        all_views = views * len(folded)  # one entry per (recogniser, view), in that order
        frees = [ctc.greedy(p) for p in flat]
        ranked = sorted(
            range(len(all_views)),
            key=lambda i: (
                frees[i].score / max(1, len(frees[i].text)) + self._size_term(all_views[i][2])
                if len(frees[i].text) >= self.config.min_chars
                else -1e9
            ),
            reverse=True,
        )
        n_views = len(views)
        scored: list[_Scored] = []
        for rank, i in enumerate(ranked):
            _, lines, rel = all_views[i]
            key = divmod(i, n_views)  # (recogniser, view): stable as views are added
            if rank < self.config.decode_views * len(folded):
                if key not in memo:
                    memo[key] = self._decode(flat[i], frees[i], formats, lines, rel)
                scored.extend(memo[key])
            else:
                scored.extend(self._decode(flat[i], frees[i], (), lines, rel))
        return scored

    def _sure(self, best: _Scored) -> bool:
        """A reading taken without looking further: it fits a specific format as read (the
        format changed no character) and every character is at least ``whole_crop_accept`` sure."""
        if best.format_name is None or best.format_name in _GENERIC or best.text != best.raw:
            return False
        conf = best.path.char_conf
        return bool(conf) and min(conf) >= self.config.whole_crop_accept

    def _line_views(self, plate: np.ndarray) -> list[tuple[np.ndarray, int, float]]:
        assert self.line_det is not None
        h, w = plate.shape[:2]
        lines = [b for b, _ in self.line_det.lines(plate) if b.h >= 0.1 * h and b.w >= 0.1 * w]
        if not lines:
            return []
        tallest = max(b.h for b in lines)
        main = max(lines, key=lambda b: (b.h, b.w))
        lines = _rows([b for b in lines if b.h >= 0.3 * tallest], w)[:4]
        views: list[tuple[np.ndarray, int, float]] = [
            (crop(plate, b), 1, b.h / tallest) for b in lines
        ]
        # a single-row plate: also its tallest line as found, without frame edges and stickers
        if main.w < 0.9 * w and len(lines) == 1:
            views.append((crop(plate, main), 1, 1.0))
        pairs = [
            (a, b)
            for i, a in enumerate(lines)
            for b in lines[i + 1 :]
            if b.y >= a.y + 0.5 * a.h and 0.4 < b.h / a.h < 2.5 and _x_overlap(a, b) > 0.3
        ]
        # the two rows of a two-line plate are its biggest text: try the tallest pairs first
        pairs.sort(key=lambda ab: min(ab[0].h, ab[1].h), reverse=True)
        for top, bottom in pairs[:2]:
            joined = _hconcat([crop(plate, top), crop(plate, bottom)])
            views.append((joined, 2, (top.h + bottom.h) / 2 / tallest))
        return views

    def _projection_views(self, plate: np.ndarray) -> list[tuple[np.ndarray, int, float]]:
        """Two-line plates without a line detector: split at the emptiest row near the middle."""
        import cv2

        grey = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
        edges = np.abs(np.diff(grey.astype(np.int16), axis=1)).sum(1)
        h = grey.shape[0]
        lo, hi = int(0.3 * h), int(0.7 * h)
        cut = lo + int(np.argmin(edges[lo:hi])) if hi > lo else h // 2
        return [(_hconcat([plate[:cut], plate[cut:]]), 2, 1.0)]

    def _reading(self, best: _Scored, scored: list[_Scored]) -> Reading:
        ranked = sorted(scored, key=lambda s: s.score, reverse=True)
        # candidate confidences: softmax over ranking scores, per distinct text
        seen: dict[str, float] = {}
        for s in ranked:
            seen.setdefault(s.text, s.score)
        texts = list(seen)[: self.config.top_k]
        vals = np.array([seen[t] for t in texts])
        weights = np.exp(3.0 * (vals - vals.max()))
        weights /= weights.sum()
        path_conf = float(np.exp(best.logp / max(1, len(best.text))))
        char_conf = [round(float(c), 4) for c in best.path.char_conf]
        confidence = min(path_conf, float(weights[0])) if len(texts) > 1 else path_conf
        return Reading(
            text=best.text,
            confidence=round(confidence, 4),
            char_confidences=char_conf,
            candidates=[
                Candidate(t, round(float(wt), 4)) for t, wt in zip(texts, weights, strict=True)
            ],
            plate_format=best.format_name if best.format_name not in _GENERIC else None,
            raw=best.raw,
            lines=best.lines,
        )


_GENERIC = frozenset(f.name for f in FORMATS if f.generic)


def _length_gap(n: int, formats: tuple[PlateFormat, ...]) -> int:
    """Characters between ``n`` and the nearest length the formats allow (0 without formats)."""
    lengths = {k for f in formats for k in f.lengths}
    return min((abs(n - k) for k in lengths), default=0)


def _rows(lines: list[Box], width: int) -> list[Box]:
    """Text lines widened to the crop's full width and merged when they share a row.

    The detector may split a plate's row at a separator or miss its first characters
    ("NZJ-6581" found as "J-6581"); the plate's text spans the plate, so the whole row is read.
    """
    rows: list[Box] = []
    for b in sorted(lines, key=lambda b: b.y):
        if rows:
            last = rows[-1]
            overlap = min(last.y + last.h, b.y + b.h) - max(last.y, b.y)
            if overlap > 0.5 * min(last.h, b.h):
                y1, y2 = min(last.y, b.y), max(last.y + last.h, b.y + b.h)
                rows[-1] = Box(0, y1, width, y2 - y1)
                continue
        rows.append(Box(0, b.y, width, b.h))
    return rows


def _x_overlap(a: Box, b: Box) -> float:
    inter = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    return inter / max(1, min(a.w, b.w))


def _hconcat(parts: list[np.ndarray]) -> np.ndarray:
    import cv2

    height = max(p.shape[0] for p in parts)
    resized = [
        cv2.resize(p, (max(1, int(p.shape[1] * height / max(1, p.shape[0]))), height))
        for p in parts
    ]
    gap = np.full((height, max(2, height // 4), 3), int(np.median(resized[0])), dtype=np.uint8)
    out = [resized[0]]
    for r in resized[1:]:
        out.extend([gap, r])
    return np.hstack(out)
