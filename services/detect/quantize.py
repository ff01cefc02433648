"""An int8 copy of the plate detector: static quantisation calibrated on the project's own frames.

``platestream models prepare`` writes ``models/plate-yolov8n-int8.onnx`` next to the float export:
onnxruntime's static quantisation (QDQ, int8 weights per channel, uint8 activations) with the
activation ranges measured on synthetic frames that ``services/detect/synth.py`` renders from a
fixed seed (all four regions, three frame shapes), letterboxed as the detector sees them. No image
from the shared sets or the accuracy benchmarks is used. On a CPU with int8 dot-product
instructions (AVX-512 VNNI, AVX-VNNI, ARM dotprod) it runs the detector in about half the time.
"""

from __future__ import annotations

import logging
import random
from pathlib import Path

import numpy as np

from platestream.errors import ModelError

logger = logging.getLogger(__name__)

PLATE_INT8 = "plate-yolov8n-int8.onnx"
CALIBRATION_SEED = "platestream-int8-calibration"
CALIBRATION_SIZES = ((1920, 1080), (1280, 720), (1280, 960))


def calibration_inputs(frames: int = 48, seed: str = CALIBRATION_SEED) -> list[np.ndarray]:
    """Detector inputs (1, 3, H, W) float32 of ``frames`` synthetic frames, as ``YoloOnnx`` feeds them."""
    from services.detect import synth
    from services.detect.yolo import letterbox, model_input

    rng = random.Random(seed)
    out = []
    for i in range(frames):
        size = CALIBRATION_SIZES[i % len(CALIBRATION_SIZES)]
        img, _, _ = synth.render_sample(rng, rng.choice(list(synth.REGIONS)), size)
        batch, _, _ = letterbox(img, 640, rect=True)
        out.append(model_input(batch))
    return out


def head_nodes(model: Path) -> list[str]:
    """The detection head's decoding (box distribution, anchors, concatenation, sigmoid): it
    stays float. One uint8 scale over boxes in pixels (0-640) and class scores (0-1) would round
    every score to zero; the head's convolutions (``cv2``, ``cv3``) are quantised like the rest."""
    import onnx

    graph = onnx.load(str(model)).graph
    head = [n.name for n in graph.node if n.name.startswith("/model.22/")]
    return [n for n in head if "/cv2." not in n and "/cv3." not in n]


def quantize_plate_detector(
    float_model: Path, model_dir: Path, *, force: bool = False, frames: int = 48
) -> Path:
    """``model_dir/plate-yolov8n-int8.onnx`` from ``float_model`` (idempotent unless ``force``)."""
    out = model_dir / PLATE_INT8
    if out.is_file() and not force:
        return out
    if not float_model.is_file():
        raise ModelError(f"{float_model} is missing: export the float detector first")
    import onnxruntime as ort
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    input_name = (
        ort.InferenceSession(str(float_model), providers=["CPUExecutionProvider"])
        .get_inputs()[0]
        .name
    )

    class Frames(CalibrationDataReader):  # type: ignore[misc]
        def __init__(self) -> None:
            self._it = iter(calibration_inputs(frames))

        def get_next(self) -> dict[str, np.ndarray] | None:
            x = next(self._it, None)
            return None if x is None else {input_name: x}

    pre = model_dir / (PLATE_INT8 + ".pre.onnx")
    tmp = model_dir / (PLATE_INT8 + ".tmp")
    try:
        quant_pre_process(str(float_model), str(pre), skip_symbolic_shape=True)
        quantize_static(
            str(pre),
            str(tmp),
            Frames(),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            nodes_to_exclude=head_nodes(pre),
        )
        tmp.replace(out)
    finally:
        pre.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    logger.info("quantised %s -> %s (%d calibration frames)", float_model, out, frames)
    return out
