"""The int8 plate detector: calibrated on the project's own synthetic frames, it finds the plates
the float detector finds, in the same place."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.detect import bench_speed, models, quantize
from services.detect.yolo import YoloOnnx


def test_calibration_frames_are_fixed_and_shaped_like_the_detector_input() -> None:
    first, again = quantize.calibration_inputs(3), quantize.calibration_inputs(3)
    assert [x.shape for x in first] == [(1, 3, 384, 640), (1, 3, 384, 640), (1, 3, 480, 640)]
    assert all(np.array_equal(a, b) for a, b in zip(first, again, strict=True))
    assert all(x.dtype == np.float32 and x.min() >= 0.0 and x.max() <= 1.0 for x in first)


@pytest.fixture(scope="module")
def int8_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The int8 export `models prepare` wrote, else one quantised here from a few frames."""
    float_model = models.DEFAULT_MODEL_DIR / models.PLATE_ONNX
    if not float_model.is_file():
        models.export_plate_detector(models.DEFAULT_MODEL_DIR)
    prepared = models.DEFAULT_MODEL_DIR / quantize.PLATE_INT8
    if prepared.is_file():
        return prepared
    return quantize.quantize_plate_detector(float_model, tmp_path_factory.mktemp("int8"), frames=8)


def test_int8_detector_finds_the_float_detectors_plates(int8_model: Path) -> None:
    float_det = YoloOnnx(models.DEFAULT_MODEL_DIR / models.PLATE_ONNX, labels={0: "plate"})
    int8_det = YoloOnnx(int8_model, labels={0: "plate"})
    assert int8_det.rect  # the free input shape survives quantisation
    compared = 0
    for i in range(12):
        img, _ = bench_speed._frame((1920, 1080), i)
        sure = [d for d in float_det.detect(img, conf=0.3)]
        if not sure:
            continue
        found = int8_det.detect(img, conf=0.15)
        best = max(sure, key=lambda d: d.score)
        assert any(d.box.iou(best.box) >= 0.7 for d in found), (i, best, found)
        compared += 1
    assert compared >= 4
    assert (
        int8_model.stat().st_size
        < (models.DEFAULT_MODEL_DIR / models.PLATE_ONNX).stat().st_size / 2
    )
