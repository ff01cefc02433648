"""PP-OCR through onnxruntime: text-line recognition (CTC probabilities) and text detection.

Recognition returns the full per-frame probability matrix, not a string: plate-format-aware
decoding, per-character confidences and candidate strings are computed from it (``ctc.py``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from platestream.errors import ModelError
from services.detect.types import Box
from services.detect.yolo import make_session

logger = logging.getLogger(__name__)

REC_HEIGHT = 48


def load_dict(path: Path) -> list[str]:
    """PaddleOCR character list: index 0 is the CTC blank, then the file's characters, then space."""
    if not path.is_file():
        raise ModelError(f"OCR character dictionary not found: {path}")
    chars = [line.rstrip("\r\n") for line in path.read_text(encoding="utf-8").splitlines()]
    return ["<blank>", *chars, " "]


class PpOcrRec:
    """PP-OCR text-line recogniser: crops in, ``(T, classes)`` softmax matrices out."""

    def __init__(
        self, model: Path, dictionary: Path, *, threads: int = 1, max_width: int = 480
    ) -> None:
        self.session = make_session(model, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.charset = load_dict(dictionary)
        classes = self.session.get_outputs()[0].shape[-1]
        if isinstance(classes, int) and classes != len(self.charset):
            raise ModelError(
                f"OCR dictionary {dictionary} has {len(self.charset)} classes, model {model} {classes}"
            )
        self.max_width = max_width

    def _prepare(self, img: np.ndarray, width: int) -> np.ndarray:
        import cv2

        h, w = img.shape[:2]
        rw = min(width, max(8, math.ceil(REC_HEIGHT * w / max(h, 1))))
        resized = cv2.resize(img, (rw, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        x = resized.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
        out = np.zeros((3, REC_HEIGHT, width), dtype=np.float32)
        out[:, :, :rw] = x
        return out

    def recognise(self, crops: list[np.ndarray]) -> list[np.ndarray]:
        """Probability matrices (T_i, C), one per BGR crop; padding frames are cut off."""
        if not crops:
            return []
        ratios = [c.shape[1] / max(c.shape[0], 1) for c in crops]
        width = min(self.max_width, max(32, math.ceil(REC_HEIGHT * max(ratios) / 8.0) * 8))
        batch = np.stack([self._prepare(c, width) for c in crops])
        try:
            probs = self.session.run(None, {self.input_name: batch})[0]
        except Exception as exc:
            raise ModelError(f"OCR recognition failed: {exc}") from exc
        steps = probs.shape[1]
        out = []
        for ratio, p in zip(ratios, probs, strict=True):
            used = min(width, REC_HEIGHT * ratio) / width
            out.append(p[: max(1, math.ceil(steps * used) + 1)])
        return out


class PpOcrDet:
    """PP-OCR DB text detector, used on a plate crop to find its text lines."""

    def __init__(
        self, model: Path, *, threads: int = 1, thresh: float = 0.3, box_thresh: float = 0.5
    ) -> None:
        self.session = make_session(model, threads)
        self.input_name = self.session.get_inputs()[0].name
        self.thresh = thresh
        self.box_thresh = box_thresh

    def lines(self, img: np.ndarray, *, side: int = 320) -> list[tuple[Box, float]]:
        """Text-line boxes in ``img`` pixels with their mean score, top to bottom."""
        import cv2

        h, w = img.shape[:2]
        scale = side / max(h, w)
        nh = max(32, round(h * scale / 32) * 32)
        nw = max(32, round(w * scale / 32) * 32)
        resized = cv2.resize(img, (nw, nh)).astype(np.float32) / 255.0
        mean = np.array([0.485, 0.456, 0.406], dtype=np.float32)
        std = np.array([0.229, 0.224, 0.225], dtype=np.float32)
        x = ((resized - mean) / std).transpose(2, 0, 1)[None]
        prob = self.session.run(None, {self.input_name: np.ascontiguousarray(x)})[0][0, 0]
        mask = (prob > self.thresh).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        sx, sy = w / nw, h / nh
        found: list[tuple[Box, float]] = []
        for cnt in contours:
            x0, y0, bw, bh = cv2.boundingRect(cnt)
            if bw < 4 or bh < 4:
                continue
            score = float(
                prob[y0 : y0 + bh, x0 : x0 + bw][mask[y0 : y0 + bh, x0 : x0 + bw] > 0].mean()
            )
            if score < self.box_thresh:
                continue
            # DB shrinks text regions; grow them back (unclip ~ 1.5 x the short side).
            pad = 0.4 * bh
            x1, y1 = max(0.0, (x0 - pad) * sx), max(0.0, (y0 - pad) * sy)
            x2, y2 = min(float(w), (x0 + bw + pad) * sx), min(float(h), (y0 + bh + pad) * sy)
            found.append((Box.from_xyxy(x1, y1, x2, y2), score))
        found.sort(key=lambda b: b[0].y)
        return found
