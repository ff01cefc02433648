"""Where the plates of a frame are: the detector's boxes at its threshold, and a second look.

The second look runs only when the first boxes gave no read (nothing found, or only things that
are not plates). It goes from cheap to dear: first the frame's own best boxes under the threshold
("rescued": the detector was trained on real photos and scores some plates of unfamiliar styles
at 0.01-0.1; they cost no detector run, the threshold only filters the detector's output), then
the frame's 2x2 tiles, where a distant plate is about twice as large (four detector runs), and the
best weak boxes of the tiles. The reader keeps a rescued box only on a confident read that fits a
plate format (``Pipeline``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from services.detect.types import Detection
from services.detect.yolo import nms

# (image, offset=(x0, y0), conf=threshold) -> boxes in the frame's pixels
Detector = Callable[..., list[Detection]]

# A weak box taller than this is wide is not read: the squarest plates (motorcycle, 1.2:1) stay
# wider than this even seen 50 degrees off their axis, and such boxes (poles, signs, people)
# cost a reader call each on frames that take the second look.
RESCUE_MIN_ASPECT = 0.6


def plate_shaped(d: Detection) -> bool:
    return d.box.w >= RESCUE_MIN_ASPECT * d.box.h


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
    the rescued boxes off.
    """

    detect: Detector
    conf: float
    tiles: Literal["off", "fallback", "always"] = "fallback"
    tile_above: int = 640
    rescue_conf: float = 0.0
    rescue_max: int = 3

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

    def _best_weak(self, boxes: list[Detection]) -> list[Detection]:
        """The best ``rescue_max`` plate-shaped ``boxes``, marked rescued."""
        best = sorted(filter(plate_shaped, boxes), key=lambda d: -d.score)[: self.rescue_max]
        return [replace(d, rescued=True) for d in best]
