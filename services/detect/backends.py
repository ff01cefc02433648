"""Detector backends behind one interface (``Pipeline``), built from the settings' ``type``.

- ``onnx`` (default): shipped YOLOv8 plate detector exported to ONNX + PP-OCRv6, onnxruntime only.
- ``ultralytics``: operator weights (.pt/.onnx) on cpu or cuda:N, crops read by PP-OCRv6.
- ``easyocr``: the shipped detector + easyocr from an operator model directory, never downloading.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from platestream.errors import ConfigError, ModelError
from platestream.plate_formats import PlateFormat, match
from platestream.plates import normalise
from services.detect import models, quantize
from services.detect.finder import PlateLocator
from services.detect.ocr import PpOcrDet, PpOcrRec
from services.detect.pipeline import VEHICLE_CLASSES, Pipeline
from services.detect.reader import PlateReader, ReaderConfig, Recogniser
from services.detect.settings import EasyOcrBackend, OnnxBackend, ReaderOptions, UltralyticsBackend
from services.detect.types import Box, Candidate, Detection, Reading
from services.detect.yolo import YoloOnnx

logger = logging.getLogger(__name__)

EASYOCR_DETECTOR_FILE = "craft_mlt_25k.pth"
EASYOCR_RECOGNISERS = {"en": "english_g2.pth", "latin": "latin_g2.pth"}


def _threads(n: int) -> int:
    return n or max(1, os.cpu_count() or 1)


def make_recognisers(opts: ReaderOptions, threads: int) -> tuple[Recogniser, Recogniser | None]:
    """The reader's recogniser and, for ``both``, the second one (PP-OCR first, the plate model second)."""
    from services.detect.platerec import SHIPPED_MODEL, PlateRec

    plate = (
        PlateRec(opts.plate_model or SHIPPED_MODEL, threads=threads)
        if opts.recogniser != "ppocr"
        else None
    )
    if opts.recogniser == "plate" and plate is not None:
        return plate, None
    ppocr = PpOcrRec(
        models.shipped_path("ocr_rec"), models.shipped_path("ocr_dict"), threads=threads
    )
    return ppocr, plate


def make_reader(opts: ReaderOptions, threads: int) -> PlateReader:
    rec, extra_rec = make_recognisers(opts, threads)
    det = PpOcrDet(models.shipped_path("ocr_det"), threads=threads) if opts.line_detection else None
    cfg = ReaderConfig(
        margin_x=opts.margin_x,
        margin_y=opts.margin_y,
        format_slack=opts.format_slack,
        format_bonus=opts.format_bonus,
        top_k=opts.top_k,
        whole_crop_accept=opts.whole_crop_accept,
    )
    return PlateReader(rec=rec, line_det=det, config=cfg, extra_rec=extra_rec)


def _rec_name(opts: ReaderOptions) -> str:
    return {"ppocr": "ppocrv6", "plate": "plate-rec", "both": "ppocrv6+plate-rec"}[opts.recogniser]


def _vehicle_fn(threads: int):  # type: ignore[no-untyped-def]
    yolo = YoloOnnx(models.shipped_path("vehicle_onnx"), threads=threads)

    def detect(img: np.ndarray) -> list[Detection]:
        dets = yolo.detect(img, conf=0.3, classes=set(VEHICLE_CLASSES))
        return [Detection(d.box, d.score, d.label) for d in dets]

    return detect


def build_onnx(cfg: OnnxBackend) -> Pipeline:
    threads = _threads(cfg.threads)
    default = quantize.PLATE_INT8 if cfg.precision == "int8" else models.PLATE_ONNX
    path = cfg.plate_model or cfg.model_dir / default
    if not path.is_file():
        raise ModelError(f"plate detector {path} is missing: run `platestream models prepare`")
    yolo = YoloOnnx(path, labels={0: "plate"}, threads=threads)
    reader = make_reader(cfg.reader, threads)

    def detect(
        img: np.ndarray, offset: tuple[int, int] = (0, 0), conf: float = cfg.conf
    ) -> list[Detection]:
        return yolo.detect(img, conf=conf, iou=cfg.iou, offset=offset)

    finder = PlateLocator(
        detect,
        conf=cfg.conf,
        tiles=cfg.tiles,
        tile_above=yolo.size,
        rescue_conf=cfg.rescue_conf,
        rescue_max=cfg.rescue_max,
        lines=reader.line_det.lines if reader.line_det is not None else None,
        text_side=cfg.text_look,
        shape_side=cfg.shape_look,
    )

    return Pipeline(
        name=f"onnx:{path.name}+{_rec_name(cfg.reader)}",
        detect=finder.first,
        retry=finder.retry,
        rescue=finder.rescue if cfg.rescue_first else None,
        shapes=finder.shapes if cfg.shape_look > 0 else None,
        text=finder.text if finder.lines is not None and cfg.text_look > 0 else None,
        reader=reader,
        vehicles=_vehicle_fn(threads) if cfg.vehicles else None,
        margin=(cfg.reader.margin_x, cfg.reader.margin_y),
        sure_conf=cfg.sure_conf,
        rescue_read_conf=cfg.rescue_read_conf,
    )


def build_ultralytics(cfg: UltralyticsBackend) -> Pipeline:
    if not cfg.weights.is_file():
        raise ConfigError(
            f"ultralytics weights {cfg.weights} not found (give a local .pt or .onnx path)"
        )
    if cfg.device.startswith("cpu"):
        from services.detect.torch_compat import ensure_torchvision_nms

        ensure_torchvision_nms()
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    try:
        model = YOLO(str(cfg.weights), task="detect")
    except Exception as exc:  # ultralytics raises many kinds
        raise ModelError(f"cannot load YOLO weights {cfg.weights}: {exc}") from exc

    def detect(img: np.ndarray) -> list[Detection]:
        results: Any = model.predict(
            img, conf=cfg.conf, imgsz=cfg.imgsz, device=cfg.device, verbose=False
        )
        res = results[0]
        out = []
        for (x1, y1, x2, y2), score in zip(
            res.boxes.xyxy.tolist(), res.boxes.conf.tolist(), strict=True
        ):
            out.append(Detection(Box.from_xyxy(x1, y1, x2, y2), float(score), "plate"))
        return out

    threads = _threads(0)
    return Pipeline(
        name=f"ultralytics:{cfg.weights.name}@{cfg.device}+{_rec_name(cfg.reader)}",
        detect=detect,
        reader=make_reader(cfg.reader, threads),
        vehicles=_vehicle_fn(threads) if cfg.vehicles else None,
        margin=(cfg.reader.margin_x, cfg.reader.margin_y),
    )


def easyocr_missing_files(model_dir: Path, languages: tuple[str, ...]) -> list[str]:
    """Weight files easyocr would try to download for these languages, absent from ``model_dir``."""
    needed = [EASYOCR_DETECTOR_FILE]
    needed.append(
        EASYOCR_RECOGNISERS["en"] if set(languages) <= {"en"} else EASYOCR_RECOGNISERS["latin"]
    )
    return [name for name in needed if not (model_dir / name).is_file()]


class EasyOcrReader:
    """Reads a plate crop with easyocr (alphanumerics only); lines joined top to bottom."""

    def __init__(self, cfg: EasyOcrBackend) -> None:
        missing = easyocr_missing_files(cfg.model_dir, cfg.languages)
        if missing:
            raise ConfigError(
                f"easyocr backend: model directory {cfg.model_dir} lacks {', '.join(missing)}; "
                "copy these files there (downloads are disabled)"
            )
        import easyocr

        try:
            self._reader = easyocr.Reader(
                list(cfg.languages),
                gpu=cfg.gpu,
                model_storage_directory=str(cfg.model_dir),
                download_enabled=False,
                verbose=False,
            )
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            raise ConfigError(
                f"easyocr backend: cannot load models from {cfg.model_dir}: {exc}"
            ) from exc

    def read(self, plate: np.ndarray, formats: tuple[PlateFormat, ...]) -> Reading | None:
        results = self._reader.readtext(
            plate, allowlist="0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ", detail=1
        )
        if not results:
            return None
        results.sort(key=lambda r: min(p[1] for p in r[0]))
        raw = " ".join(r[1] for r in results)
        text = normalise(raw)
        conf = float(min(r[2] for r in results))
        fits = match(text, formats) if formats else []
        return Reading(
            text=text,
            confidence=conf,
            char_confidences=[conf] * len(text),
            candidates=[Candidate(text, conf)],
            plate_format=fits[0] if fits else None,
            raw=raw,
            lines=len(results),
        )


def build_easyocr(cfg: EasyOcrBackend) -> Pipeline:
    reader = EasyOcrReader(cfg)
    path = cfg.detector_dir / models.PLATE_ONNX
    yolo = YoloOnnx(path, labels={0: "plate"}, threads=_threads(0))
    return Pipeline(
        name="onnx-detector+easyocr",
        detect=lambda img: yolo.detect(img, conf=cfg.conf),
        reader=reader,
    )


def build(cfg: OnnxBackend | UltralyticsBackend | EasyOcrBackend) -> Pipeline:
    """The pipeline for a backend configuration."""
    if isinstance(cfg, OnnxBackend):
        return build_onnx(cfg)
    if isinstance(cfg, UltralyticsBackend):
        return build_ultralytics(cfg)
    return build_easyocr(cfg)


def with_worker_threads(
    cfg: OnnxBackend | UltralyticsBackend | EasyOcrBackend, workers: int
) -> OnnxBackend | UltralyticsBackend | EasyOcrBackend:
    """Share the cores between ``workers`` frame threads: onnxruntime threads per session = cores / workers."""
    if isinstance(cfg, OnnxBackend) and cfg.threads == 0:
        return cfg.model_copy(update={"threads": max(1, (os.cpu_count() or 1) // max(1, workers))})
    return cfg
