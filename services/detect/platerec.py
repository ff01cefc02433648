"""The project's own plate recogniser (a small CRNN trained by `platestream models train`) via onnxruntime.

It returns the same ``(T, classes)`` CTC probability matrices as ``PpOcrRec.recognise``, over
the classes blank + 0-9 + A-Z, so ``ctc.py``'s folding, format-aware decoding and the reader's
ranking apply unchanged. Preprocessing lives here, without torch, and training uses it too, so
the two cannot drift apart.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from platestream.errors import ModelError
from services.detect.ctc import ALPHABET
from services.detect.yolo import make_session

logger = logging.getLogger(__name__)

INPUT_H = 32
INPUT_W = 128
CHARSET = ["<blank>", *ALPHABET]
SHIPPED_MODEL = Path(__file__).resolve().parent / "weights" / "plate-rec.onnx"


def prepare(crop: np.ndarray) -> np.ndarray:
    """A BGR (or grey) crop -> ``(1, INPUT_H, INPUT_W)`` float32 in [-1, 1], aspect not kept."""
    import cv2

    grey = crop if crop.ndim == 2 else cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape[:2]
    shrink = w > INPUT_W or h > INPUT_H
    resized = cv2.resize(
        grey, (INPUT_W, INPUT_H), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR
    )
    return (resized.astype(np.float32) / 127.5 - 1.0)[None]


def read_meta(model: Path) -> dict[str, object]:
    """The JSON written next to the ONNX file by training (alphabet, input size, figures)."""
    meta_path = model.with_suffix(".json")
    if not meta_path.is_file():
        raise ModelError(f"plate recogniser metadata {meta_path} is missing")
    meta: dict[str, object] = json.loads(meta_path.read_text(encoding="utf-8"))
    return meta


class PlateRec:
    """Plate-text recogniser: BGR crops in, ``(T, 37)`` softmax matrices out (index 0 = blank)."""

    def __init__(self, model: Path = SHIPPED_MODEL, *, threads: int = 1) -> None:
        if not model.is_file():
            raise ModelError(f"plate recogniser {model} is missing")
        meta = read_meta(model)
        if meta.get("alphabet") != ALPHABET or meta.get("input_size") != [INPUT_H, INPUT_W]:
            raise ModelError(
                f"plate recogniser {model}: alphabet/input size {meta.get('alphabet')!r} "
                f"{meta.get('input_size')!r} do not match this code ({ALPHABET!r}, {INPUT_H}x{INPUT_W})"
            )
        self.session = make_session(model, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.charset = CHARSET

    def recognise(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Probability matrices (T, 37), one per crop."""
        if not crops:
            return []
        batch = np.stack([prepare(c) for c in crops])
        try:
            probs = self.session.run(None, {self.input_name: batch})[0]
        except Exception as exc:
            raise ModelError(f"plate recognition failed: {exc}") from exc
        return [np.asarray(p) for p in probs]
