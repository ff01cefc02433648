"""Degradations of a flat synthetic plate into a crop like the detector's: warp, margins, blur, noise, JPEG."""

from __future__ import annotations

import random

import numpy as np


def _surround(rng: random.Random, plate: np.ndarray, pad: tuple[int, int]) -> np.ndarray:
    """The plate on a car-body-like background, ``pad`` (x, y) pixels on each side."""
    h, w = plate.shape[:2]
    px, py = pad
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    colour = nrng.integers(0, 255, 3).astype(np.float32)
    canvas = np.empty((h + 2 * py, w + 2 * px, 3), np.float32)
    canvas[:] = colour
    canvas += nrng.normal(0, rng.uniform(0, 12), canvas.shape)
    if rng.random() < 0.3:  # a bumper edge or frame line above or below the plate
        y = rng.choice([rng.randrange(0, max(1, py)), h + py + rng.randrange(0, max(1, py))])
        canvas[y : y + rng.randint(2, 6)] = nrng.integers(0, 255, 3)
    canvas[py : py + h, px : px + w] = plate
    return np.clip(canvas, 0, 255).astype(np.uint8)


def warp_and_crop(rng: random.Random, plate: np.ndarray) -> np.ndarray:
    """Perspective-warp the plate and crop around it with jittered margins (as detector box + margin)."""
    import cv2

    h, w = plate.shape[:2]
    px, py = int(0.2 * w), int(0.45 * h)
    canvas = _surround(rng, plate, (px, py))
    src = np.array([[px, py], [px + w, py], [px + w, py + h], [px, py + h]], np.float32)
    skew = rng.uniform(-0.1, 0.1) * w
    jit = [(rng.uniform(-0.03, 0.03) * w, rng.uniform(-0.05, 0.05) * h) for _ in range(4)]
    dst = src + np.array(
        [
            [jit[0][0], jit[0][1] + skew],
            [jit[1][0], jit[1][1] - skew],
            [jit[2][0], jit[2][1] - skew],
            [jit[3][0], jit[3][1] + skew],
        ],
        np.float32,
    )
    matrix = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(
        canvas, matrix, (canvas.shape[1], canvas.shape[0]), borderMode=cv2.BORDER_REPLICATE
    )
    x0, y0 = dst[:, 0].min(), dst[:, 1].min()
    x1, y1 = dst[:, 0].max(), dst[:, 1].max()
    bw, bh = x1 - x0, y1 - y0
    if rng.random() < 0.2:  # a tight crop of the character row (a line the line detector found)
        top, bottom = rng.uniform(0.15, 0.3), rng.uniform(0.78, 0.95)
        y0, y1 = y0 + top * bh, y0 + bottom * bh
        bh = y1 - y0
    # the detector's box is off by a few per cent; the reader adds 6 % / 12 % margins
    left, right = (rng.uniform(-0.01, 0.12) * bw for _ in range(2))
    up, down = (rng.uniform(-0.04, 0.25) * bh for _ in range(2))
    cx0, cy0 = max(0, int(x0 - left)), max(0, int(y0 - up))
    cx1 = min(warped.shape[1], int(x1 + right) + 1)
    cy1 = min(warped.shape[0], int(y1 + down) + 1)
    return np.ascontiguousarray(warped[cy0:cy1, cx0:cx1])


def degrade(rng: random.Random, crop: np.ndarray) -> np.ndarray:
    """Low resolution, blur, brightness/contrast, glare, noise and JPEG artefacts."""
    import cv2

    h, w = crop.shape[:2]
    target_w = int(rng.choice([rng.uniform(60, 120), rng.uniform(100, 260)]))
    scale = target_w / w
    img = cv2.resize(crop, (max(8, target_w), max(4, int(h * scale))), interpolation=cv2.INTER_AREA)
    if rng.random() < (0.4 if target_w > 100 else 0.15):
        k = rng.choice([3, 3, 5])
        img = cv2.GaussianBlur(img, (k, k), rng.uniform(0.4, 1.4))
    if rng.random() < 0.2:  # horizontal motion blur
        k = rng.choice([3, 5])
        kern = np.zeros((k, k), np.float32)
        kern[k // 2] = 1.0 / k
        img = cv2.filter2D(img, -1, kern)
    f = img.astype(np.float32)
    gain, bias = rng.uniform(0.45, 1.3), rng.uniform(-40, 40)
    f = f * gain + bias
    if rng.random() < 0.15:  # glare: a bright soft blob
        hh, ww = f.shape[:2]
        yy, xx = np.mgrid[0:hh, 0:ww]
        cx, cy, r = rng.uniform(0, ww), rng.uniform(0, hh), rng.uniform(0.2, 0.6) * ww
        f += (
            rng.uniform(60, 160)
            * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r))[..., None]
        )
    if rng.random() < 0.1:
        f = 255.0 - f  # light characters on a dark plate
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    f += nrng.normal(0, rng.uniform(0, 10), f.shape)
    img = np.clip(f, 0, 255).astype(np.uint8)
    if rng.random() < 0.7:
        _ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(35, 92)])
        img = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    return img
