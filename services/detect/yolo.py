"""YOLOv8 detection through onnxruntime: letterbox, one forward pass, box decoding and NMS."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from platestream.errors import ModelError
from services.detect.types import Box, Detection

logger = logging.getLogger(__name__)


def make_session(path: Path, threads: int):  # type: ignore[no-untyped-def]
    """An onnxruntime CPU session with a bounded thread pool (the stage runs several in parallel)."""
    import onnxruntime as ort

    if not path.is_file():
        raise ModelError(f"model file not found: {path} (run `platestream models prepare`)")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # no busy-waiting between ops: on shared cores spinning threads steal time from the others
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load ONNX model {path}: {exc}") from exc


STRIDE = 32  # YOLOv8's coarsest feature map: a free-shape input's sides are multiples of it


def letterbox(
    img: np.ndarray, size: int, *, rect: bool = False
) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize keeping aspect ratio so the long side is ``size``, onto grey padding.

    The padding makes a ``size`` square, or with ``rect`` (a model whose input shape is free)
    only reaches the next multiple of the stride: a 16:9 frame becomes 640 x 384, not 640 x 640,
    which costs the detector 40 % less at the same scale. Returns image, scale, (dx, dy).
    """
    import cv2

    h, w = img.shape[:2]
    scale = min(size / h, size / w)
    nh, nw = round(h * scale), round(w * scale)
    resized = cv2.resize(
        img, (nw, nh), interpolation=cv2.INTER_LINEAR if scale < 1 else cv2.INTER_CUBIC
    )
    oh, ow = (-(-nh // STRIDE) * STRIDE, -(-nw // STRIDE) * STRIDE) if rect else (size, size)
    out = np.full((oh, ow, 3), 114, dtype=np.uint8)
    dy, dx = (oh - nh) // 2, (ow - nw) // 2
    out[dy : dy + nh, dx : dx + nw] = resized
    return out, scale, (dx, dy)


def model_input(batch: np.ndarray) -> np.ndarray:
    """A letterboxed BGR image as the detector's input: (1, 3, H, W) RGB float32 in 0-1."""
    x = batch[:, :, ::-1].transpose(2, 0, 1)[None].astype(np.float32) / 255.0
    return np.ascontiguousarray(x)


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression over xyxy boxes."""
    order = scores.argsort()[::-1]
    keep: list[int] = []
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        order = rest[inter / (areas[i] + areas[rest] - inter + 1e-9) <= iou]
    return keep


class YoloOnnx:
    """A YOLOv8 detector exported to ONNX (output ``(1, 4 + classes, anchors)``)."""

    def __init__(
        self, path: Path, *, labels: dict[int, str] | None = None, threads: int = 1
    ) -> None:
        self.path = path
        self.session = make_session(path, threads)
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        # an export with a free input shape (``dynamic``) takes each frame at its own aspect
        self.rect = not all(isinstance(d, int) for d in inp.shape[2:])
        self.size = int(inp.shape[2]) if isinstance(inp.shape[2], int) else 640
        if labels is None:
            meta = self.session.get_modelmeta().custom_metadata_map.get("names", "{0: 'plate'}")
            import ast

            labels = {int(k): str(v) for k, v in ast.literal_eval(meta).items()}
        self.labels = labels

    def detect(
        self,
        img: np.ndarray,
        *,
        conf: float = 0.25,
        iou: float = 0.5,
        classes: set[int] | None = None,
        offset: tuple[int, int] = (0, 0),
    ) -> list[Detection]:
        """Detections in ``img`` (BGR), boxes in its pixels shifted by ``offset``."""
        batch, scale, (dx, dy) = letterbox(img, self.size, rect=self.rect)
        out = self.session.run(None, {self.input_name: model_input(batch)})[0][0]  # (4+nc, N)
        cls_scores = out[4:]
        if classes is not None:
            mask = np.full(cls_scores.shape[0], False)
            mask[list(classes)] = True
            cls_scores = np.where(mask[:, None], cls_scores, 0.0)
        cls_ids = cls_scores.argmax(0)
        scores = cls_scores[cls_ids, np.arange(cls_scores.shape[1])]
        keep = scores >= conf
        if not keep.any():
            return []
        cx, cy, w, h = out[:4, keep]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
        boxes[:, [0, 2]] = (boxes[:, [0, 2]] - dx) / scale
        boxes[:, [1, 3]] = (boxes[:, [1, 3]] - dy) / scale
        H, W = img.shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, W)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, H)
        scores, ids = scores[keep], cls_ids[keep]
        result = []
        for i in nms(boxes, scores, iou):
            x1, y1, x2, y2 = boxes[i]
            result.append(
                Detection(
                    Box.from_xyxy(x1 + offset[0], y1 + offset[1], x2 + offset[0], y2 + offset[1]),
                    float(scores[i]),
                    self.labels.get(int(ids[i]), str(int(ids[i]))),
                )
            )
        return result
