"""Where the plates of a frame are: the detector's boxes at its threshold, and a second look.

The second look runs only when the first boxes gave no read (nothing found, or only things that
are not plates). It goes from cheap to dear: first the frame's own best boxes under the threshold
("rescued": the detector was trained on real photos and scores some plates of unfamiliar styles
at 0.01-0.1; they cost no detector run, the threshold only filters the detector's output), then
the frame's 2x2 tiles, where a distant plate is about twice as large (four detector runs), and the
best weak boxes of the tiles; then the shape look: plate-shaped rectangles found by their outline,
without a model (``shapes.py``, a few ms); last the text look: the reader's text-line detector over
the whole frame, whose plate-shaped lines are read as plates (it finds the characters of plates
whose style the plate detector scores near zero). The reader keeps a rescued box only on a
confident read that fits a plate format (``Pipeline``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from services.detect.shapes import plate_shapes
from services.detect.types import Box, Detection
from services.detect.yolo import nms

# (image, offset=(x0, y0), conf=threshold) -> boxes in the frame's pixels
Detector = Callable[..., list[Detection]]
# (image, side=long side to scale it to) -> text-line boxes in the image's pixels and their scores
LineFinder = Callable[..., list[tuple[Box, float]]]

# A weak box taller than this is wide is not read: the squarest plates (motorcycle, 1.2:1) stay
# wider than this even seen 50 degrees off their axis, and such boxes (poles, signs, people)
# cost a reader call each on frames that take the second look.
RESCUE_MIN_ASPECT = 0.6


# A text line read as a plate on the text look: wider than tall by this much (the shortest
# one-line plates, 2.5:1 with their margins, to a long EU plate), at least TEXT_LINE_MIN_PX tall
# and at most a third of the frame (larger "lines" are the detector's map bleeding over a noisy
# background). The detector's line box, grown back by its unclip, is nearly the plate already
# (measured on synthetic plates of another seed: the plate's edges lie a median 0.03-0.14 line
# widths and 0.02-0.09 line heights outside it), so it is grown only by TEXT_PLATE_GROW.
TEXT_LINE_ASPECT = (1.5, 12.0)
TEXT_LINE_MIN_PX = 8
TEXT_PLATE_GROW = (0.05, 0.05)


def plate_shaped(d: Detection) -> bool:
    return d.box.w >= RESCUE_MIN_ASPECT * d.box.h


def plates_around(lines: list[tuple[Box, float]], width: int, height: int) -> list[Box]:
    """The plate-shaped text lines, best first, each grown to the plate it would be on."""
    lo, hi = TEXT_LINE_ASPECT
    gx, gy = TEXT_PLATE_GROW
    out: list[Box] = []
    for b, _ in sorted(lines, key=lambda line: -line[1]):
        if not TEXT_LINE_MIN_PX <= b.h <= height / 3 or not lo * b.h <= b.w <= hi * b.h:
            continue
        out.append(
            Box.from_xyxy(
                max(0.0, b.x - gx * b.w),
                max(0.0, b.y - gy * b.h),
                min(float(width), b.x + (1 + gx) * b.w),
                min(float(height), b.y + (1 + gy) * b.h),
            )
        )
    return out


def tiled(
    detect: Detector,
    img: np.ndarray,
    overlap: float = 0.2,
    *,
    include_full: bool = True,
    conf: float | None = None,
) -> list[Detection]:
    """Detections on the whole image and on 2x2 overlapping tiles, merged by NMS.

    A 1080p frame letterboxed to 640 shrinks a distant plate threefold; on a tile it shrinks
    about 1.7-fold, which is what finds small (e.g. US, far lane) plates.
    """
    kw = {} if conf is None else {"conf": conf}
    h, w = img.shape[:2]
    found = list(detect(img, **kw)) if include_full else []
    tw, th = int(w * (0.5 + overlap / 2)), int(h * (0.5 + overlap / 2))
    for x0 in (0, w - tw):
        for y0 in (0, h - th):
            found.extend(detect(img[y0 : y0 + th, x0 : x0 + tw], offset=(x0, y0), **kw))
    return merged(found)


def merged(found: list[Detection]) -> list[Detection]:
    """Overlapping detections (of the frame and its tiles) reduced to the best of each, by NMS."""
    if len(found) < 2:
        return found
    boxes = np.array(
        [[d.box.x, d.box.y, d.box.x + d.box.w, d.box.y + d.box.h] for d in found], dtype=np.float64
    )
    scores = np.array([d.score for d in found])
    return [found[i] for i in nms(boxes, scores, 0.4)]


@dataclass(frozen=True)
class PlateLocator:
    """The onnx backend's detection: ``first`` for every frame, ``retry`` when it read nothing.

    ``tiles``: ``always`` (the frame and its tiles at first), ``fallback`` (the tiles on the
    second look, for frames larger than ``tile_above`` px) or ``off``. ``rescue_conf`` 0 turns
    the rescued boxes off. ``lines`` with ``text_side`` > 0: the text look (``text``).
    """

    detect: Detector
    conf: float
    tiles: Literal["off", "fallback", "always"] = "fallback"
    tile_above: int = 640
    rescue_conf: float = 0.0
    rescue_max: int = 3
    lines: LineFinder | None = None
    text_side: int = 0
    shape_side: int = 0

    @property
    def low(self) -> float:
        return min(self.conf, self.rescue_conf) if self.rescue_conf > 0 else self.conf

    def first(self, img: np.ndarray) -> list[Detection]:
        """The frame's boxes; those under the threshold come marked ``rescued``, for ``retry``."""
        if self.tiles == "always":
            found = tiled(self.detect, img, conf=self.low)
        else:
            found = self.detect(img, conf=self.low)
        return [d if d.score >= self.conf else replace(d, rescued=True) for d in found]

    def rescue(self, weak: list[Detection]) -> list[Detection]:
        """The best ``rescue_max`` of the first look's weak boxes, marked rescued: read before the
        tiles, as they cost no detector run ([] when the rescue is off)."""
        return self._best_weak(weak) if self.low < self.conf else []

    def retry(self, img: np.ndarray, weak: list[Detection]) -> list[Detection]:
        """The tiles' boxes at the threshold, else the best ``rescue_max`` weak boxes (rescued)."""
        found = list(weak)
        if self.tiles == "fallback" and max(img.shape[:2]) > self.tile_above:
            found = merged(found + tiled(self.detect, img, include_full=False, conf=self.low))
        sure = [d for d in found if d.score >= self.conf]
        if sure or self.low >= self.conf:
            return sure
        return self._best_weak(found)

    def text(self, img: np.ndarray) -> list[Detection]:
        """The best ``rescue_max`` plate-shaped text lines of the frame as plates, rescued, scored
        at the rescue floor (no plate detector vouched for them); [] when the look is off. The
        frame is median-filtered (3 px) first: on grainy frames the text detector's map bleeds
        over the noise and swallows the plate's line into one frame-sized region."""
        if self.lines is None or self.text_side <= 0:
            return []
        h, w = img.shape[:2]
        import cv2

        boxes = plates_around(self.lines(cv2.medianBlur(img, 3), side=self.text_side), w, h)
        boxes = boxes[: self.rescue_max]
        return [Detection(b, self.low, rescued=True) for b in boxes]

    def shapes(self, img: np.ndarray) -> list[Detection]:
        """The best ``rescue_max`` plate-shaped rectangles of the frame (``shapes.plate_shapes``,
        no model), rescued, scored at the rescue floor; [] when the look is off."""
        if self.shape_side <= 0:
            return []
        boxes = plate_shapes(img, side=self.shape_side, limit=self.rescue_max)
        return [Detection(b, self.low, rescued=True) for b in boxes]

    def _best_weak(self, boxes: list[Detection]) -> list[Detection]:
        """The best ``rescue_max`` plate-shaped ``boxes``, marked rescued."""
        best = sorted(filter(plate_shaped, boxes), key=lambda d: -d.score)[: self.rescue_max]
        return [replace(d, rescued=True) for d in best]
