"""Plate-shaped rectangles of a frame, found without a model: the shape look.

The classic way of finding a plate before learned detectors: a plate is a filled rectangle with a
sharp outline, 1.6 to 6.5 times as wide as it is tall, with a spread of grey levels inside (its
characters). Edges (Canny) of the frame scaled to ``side`` px, closed, give contours; a contour
whose minimum-area rectangle (any rotation) has a plate's proportions and fills most of it is a
candidate. Candidates are ranked by how many character-like dark blobs they hold (up to five, as a
plate of six or seven characters shows most of them), then by area. It costs a few ms a frame,
against about a hundred for the text look, and finds plates of styles the plate detector scores
near zero wherever their outline is clean; on cluttered real scenes it finds many rectangles
(windows, signs, grilles), of which only the best few are read, under the rescued boxes' rule.
"""

from __future__ import annotations

import numpy as np

from services.detect.types import Box

SHAPE_ASPECT = (1.6, 6.5)  # width / height of the minimum-area rectangle (US 2:1 to EU 4.7:1)
SHAPE_MIN_PX = 8  # rectangle height at the scaled size
SHAPE_MAX_SHARE = 0.25  # of the frame's height: larger "plates" are doors, windows, boxes
SHAPE_FILL = 0.6  # contour area / rectangle area: an outline that closes around a rectangle
SHAPE_MIN_STD = 25.0  # grey-level spread inside the outline: a plain patch holds no characters
CHARS_CAP = 5


def plate_shapes(img: np.ndarray, side: int = 960, limit: int = 3) -> list[Box]:
    """The ``limit`` most plate-like rectangles of ``img`` (BGR), in its pixels, best first."""
    import cv2

    h, w = img.shape[:2]
    scale = min(1.0, side / max(h, w))
    small = (
        cv2.resize(img, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        if scale < 1
        else img
    )
    grey = cv2.medianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), 3)
    edges = cv2.morphologyEx(cv2.Canny(grey, 50, 150), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8))
    contours, _ = cv2.findContours(edges, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    lo, hi = SHAPE_ASPECT
    found: list[tuple[int, float, Box]] = []
    for c in contours:
        if len(c) < 4:
            continue
        (_, _), (rw, rh), _ = cv2.minAreaRect(c)
        long, short = max(rw, rh), min(rw, rh)
        if not SHAPE_MIN_PX <= short <= SHAPE_MAX_SHARE * grey.shape[0]:
            continue
        if not lo * short <= long <= hi * short:
            continue
        area = float(cv2.contourArea(c))
        if area < SHAPE_FILL * long * short:
            continue
        x, y, bw, bh = cv2.boundingRect(c)
        inside = grey[y : y + bh, x : x + bw]
        dx, dy = round(0.05 * bw), round(0.15 * bh)  # the outline itself is not inside
        if float(inside[dy : bh - dy, dx : bw - dx].std()) < SHAPE_MIN_STD:
            continue
        box = Box.from_xyxy(x / scale, y / scale, (x + bw) / scale, (y + bh) / scale)
        found.append((character_blobs(inside, short), area, box))
    found.sort(key=lambda f: (-f[0], -f[1]))
    kept: list[Box] = []
    for _, _, box in found:
        if len(kept) >= limit:
            break
        if all(box.iou(k) <= 0.5 for k in kept):
            kept.append(box)
    return kept


def character_blobs(inside: np.ndarray, height: float) -> int:
    """Dark blobs inside a rectangle shaped like characters of a plate ``height`` tall (Otsu
    threshold; 30-95 % of the height, no wider than 1.2 times their height), up to CHARS_CAP."""
    import cv2

    _, dark = cv2.threshold(inside, 0, 255, cv2.THRESH_BINARY_INV + cv2.THRESH_OTSU)
    n, _, stats, _ = cv2.connectedComponentsWithStats(dark, connectivity=8)
    bw, bh, area = stats[1:n, 2], stats[1:n, 3], stats[1:n, 4]
    ok = (bh >= 0.3 * height) & (bh <= 0.95 * height) & (bw <= 1.2 * bh) & (area >= 0.15 * bw * bh)
    return min(int(ok.sum()), CHARS_CAP)
