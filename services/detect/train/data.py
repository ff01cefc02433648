"""Training and held-out crops rendered on the fly from ``synth.py``'s plates, with labels for CTC."""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

from services.detect import synth
from services.detect.ctc import CHAR_INDEX
from services.detect.platerec import prepare
from services.detect.reader import _hconcat
from services.detect.train.augment import degrade, warp_and_crop

REGIONS = ("gb", "eu", "us", "br")


@dataclass(frozen=True)
class Sample:
    crop: np.ndarray  # BGR, as the reader would pass it to the recogniser
    text: str
    region: str
    style: str


def stack_rows(crop: np.ndarray) -> np.ndarray:
    """A two-line plate as one line, top row first: split at the emptiest row near the middle.

    The reader joins the rows of a two-line plate the same way before recognition.
    """
    import cv2

    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    edges = np.abs(np.diff(grey.astype(np.int16), axis=1)).sum(1)
    h = grey.shape[0]
    lo, hi = int(0.35 * h), int(0.65 * h)
    cut = lo + int(np.argmin(edges[lo:hi])) if hi > lo else h // 2
    return _hconcat([crop[:cut], crop[cut:]])


def render(key: str, region: str | None = None) -> Sample:
    """One augmented crop; the same ``key`` always gives the same crop."""
    rng = random.Random(key)
    region = region or rng.choice(REGIONS)
    spec = synth.plate_spec(rng, region)
    plate = synth.draw_plate(spec, rng)
    crop = degrade(rng, warp_and_crop(rng, plate))
    if "\n" in spec.shown:
        crop = stack_rows(crop)
    return Sample(crop, spec.text, spec.region, spec.style)


def batch(keys: list[str]) -> tuple[np.ndarray, list[Sample]]:
    """``(N, 1, H, W)`` network input and the samples behind it."""
    samples = [render(k) for k in keys]
    return np.stack([prepare(s.crop) for s in samples]), samples


def encode(texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """CTC targets: concatenated class indices (1-based, 0 is the blank) and lengths."""
    flat = [CHAR_INDEX[c] + 1 for t in texts for c in t]
    return np.array(flat, np.int64), np.array([len(t) for t in texts], np.int64)


def held_out(seed: int, per_region: int) -> list[Sample]:
    """A fixed validation set whose keys never occur in training (separate namespace)."""
    return [
        render(f"platestream-train-val:{seed}:{region}:{i}", region)
        for region in REGIONS
        for i in range(per_region)
    ]
