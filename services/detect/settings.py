"""Typed settings of the detect stage (env prefix PLATESTREAM_DETECT_...), backend chosen by ``type``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from platestream.settings import CommonSettings
from services.detect.models import DEFAULT_MODEL_DIR

Recogniser = Literal["ppocr", "plate", "both"]


class ReaderOptions(BaseModel):
    """How plate crops are read (all backends that use the PP-OCR reader)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    margin_x: float = Field(
        default=0.06, ge=0, le=0.5, description="Crop margin, fraction of the plate width per side."
    )
    margin_y: float = Field(
        default=0.12,
        ge=0,
        le=0.8,
        description="Crop margin, fraction of the plate height per side.",
    )
    format_slack: float = Field(
        default=6.0, ge=0, description="Nats a plate format may cost over the free reading."
    )
    format_bonus: float = Field(
        default=0.35,
        ge=0,
        description="Score bonus (per character, nats) of a reading that fits a specific format.",
    )
    line_detection: bool = Field(
        default=True, description="Find text lines in the crop (two-line plates, dealer text)."
    )
    whole_crop_accept: float = Field(
        default=0.9,
        ge=0,
        le=1,
        description="A single-row plate whose whole crop reads as a specific plate format, "
        "unchanged by the format, with every character at least this sure, is taken without "
        "finding its text lines (about a third of a read's cost); 0: always find them.",
    )
    top_k: int = Field(default=5, ge=1, le=20)
    recogniser: Recogniser = Field(
        default="ppocr",
        description="Which text recogniser reads the crops: PP-OCRv6 (ppocr), the project's own "
        "plate model (plate), or both with their candidates ranked together (both).",
    )
    plate_model: Path | None = Field(
        default=None,
        description="The plate recogniser's ONNX file (default: the shipped "
        "services/detect/weights/plate-rec.onnx); its .json must sit next to it.",
    )

    @model_validator(mode="after")
    def _plate_model_exists(self) -> ReaderOptions:
        if self.recogniser != "ppocr":
            from services.detect.platerec import SHIPPED_MODEL

            path = self.plate_model or SHIPPED_MODEL
            if not path.is_file() or not path.with_suffix(".json").is_file():
                raise ValueError(
                    f"recogniser {self.recogniser!r} needs {path} and {path.with_suffix('.json')} "
                    "(train one with `platestream models train`)"
                )
        return self


class OnnxBackend(BaseModel):
    """Default: shipped YOLOv8 plate detector + PP-OCRv6 via onnxruntime; no downloads."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["onnx"] = "onnx"
    model_dir: Path = DEFAULT_MODEL_DIR
    plate_model: Path | None = Field(
        default=None,
        description="Plate detector ONNX (default: the export `precision` names in model_dir).",
    )
    precision: Literal["float", "int8"] = Field(
        default="float",
        description="Which export of the shipped plate detector runs: float "
        "(models/plate-yolov8n-dynamic.onnx) or int8 (models/plate-yolov8n-int8.onnx, static "
        "quantisation; about half the detector time on CPUs with int8 dot-product instructions).",
    )
    conf: float = Field(default=0.15, gt=0, lt=1, description="Plate detection threshold.")
    sure_conf: float = Field(
        default=0.35,
        gt=0,
        lt=1,
        description="Below this detection score a read is kept only if it fits a plate format.",
    )
    iou: float = Field(default=0.5, gt=0, lt=1)
    tiles: Literal["off", "fallback", "always"] = Field(
        default="fallback",
        description="Also detect on 2x2 overlapping tiles (small, distant plates; 5x the detector cost): "
        "never, only when the whole frame gave no plate, or always.",
    )
    rescue_conf: float = Field(
        default=0.01,
        ge=0,
        lt=1,
        description="When the frame and its tiles give no box at conf, the boxes down to this "
        "score are read too, and kept only when the text fits a plate format with a confident "
        "reading (rescue_read_conf); 0: never.",
    )
    rescue_read_conf: float = Field(
        default=0.45, gt=0, le=1, description="Reading confidence a rescued box needs."
    )
    rescue_max: int = Field(default=3, ge=1, le=20, description="Rescued boxes read per frame.")
    rescue_first: bool = Field(
        default=True,
        description="On the second look, read the frame's own weak boxes before tiling it (they "
        "cost no detector run; the tiles cost four); false: tiles first, then the weak boxes.",
    )
    text_look: int = Field(
        default=640,
        ge=0,
        le=4096,
        description="Last of the second look, when the detector's boxes, weak boxes and tiles "
        "gave no read: the reader's text-line detector over the whole frame (its long side "
        "scaled to this many px); its best plate-shaped lines are read under the rescued boxes' "
        "rule. 0: never.",
    )
    shape_look: int = Field(
        default=960,
        ge=0,
        le=4096,
        description="Before the text look, when the detector's boxes, weak boxes and tiles gave "
        "no read: plate-shaped rectangles found by their outline, without a model, in the frame "
        "scaled to this many px on its long side; the best are read under the rescued boxes' "
        "rule. 0: never.",
    )
    vehicles: bool = Field(
        default=False, description="Detect vehicles (COCO yolov8n) and attach box + class to reads."
    )
    threads: int = Field(
        default=0, ge=0, description="onnxruntime threads per session (0: one per CPU core)."
    )
    reader: ReaderOptions = ReaderOptions()


class UltralyticsBackend(BaseModel):
    """Operator-supplied YOLO weights (.pt or .onnx) through ultralytics; PP-OCR reads the crops."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["ultralytics"] = "ultralytics"
    weights: Path = Field(
        description="Local path of the YOLO weights (.pt or .onnx); never a model name."
    )
    device: str = Field(default="cpu", pattern=r"^(cpu|cuda(:\d+)?)$")
    conf: float = Field(default=0.25, gt=0, lt=1)
    imgsz: int = Field(default=640, ge=64, le=4096)
    vehicles: bool = False
    reader: ReaderOptions = ReaderOptions()

    @field_validator("weights")
    @classmethod
    def _local_file(cls, v: Path) -> Path:
        if v.suffix not in (".pt", ".onnx"):
            raise ValueError(f"weights must be a .pt or .onnx file path, got {v}")
        if not v.is_file():
            raise ValueError(
                f"weights file {v} does not exist (a bare model name would make ultralytics download it; "
                "give the path of a local file)"
            )
        return v


class EasyOcrBackend(BaseModel):
    """The shipped plate detector + easyocr from an operator-supplied model directory."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["easyocr"] = "easyocr"
    model_dir: Path = Field(
        description="Directory holding easyocr's craft_mlt_25k.pth and english_g2.pth."
    )
    languages: tuple[str, ...] = ("en",)
    gpu: bool = False
    detector_dir: Path = DEFAULT_MODEL_DIR
    conf: float = Field(default=0.25, gt=0, lt=1)


Backend = Annotated[OnnxBackend | UltralyticsBackend | EasyOcrBackend, Field(discriminator="type")]


def _default_workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


class DetectSettings(CommonSettings):
    """Settings of `platestream detect`. Nested backend fields: PLATESTREAM_DETECT_BACKEND='{"type": ...}'."""

    detect_backend: Backend = OnnxBackend()
    detect_formats: tuple[str, ...] = Field(
        default=("ANY",),
        description="Plate formats/regions used when a frame names none (e.g. EU, US, BR, GB).",
    )
    detect_batch_size: int = Field(
        default=8, ge=1, le=256, description="Frames taken from the consumer at once."
    )
    detect_batch_ms: int = Field(default=200, ge=1, description="Longest wait to fill a batch.")
    detect_queue_size: int = Field(
        default=16, ge=1, description="Frames in flight before partitions are paused."
    )
    detect_workers: int = Field(default_factory=_default_workers, ge=1, le=64)
    detect_inline_crop_max_bytes: int = Field(
        default=48_000,
        ge=0,
        description="Crops up to this size are also carried inline in the read (0: never).",
    )
    detect_metrics_port: int = Field(
        default=9101, ge=0, le=65535, description="Prometheus port (0: off)."
    )
    detect_metrics_host: str = Field(
        default="127.0.0.1", description="Prometheus bind address (0.0.0.0 in containers)."
    )
    detect_group_id: str = "platestream-detect"
    detect_recogniser: Recogniser | None = Field(
        default=None,
        description="Shortcut for the backend's reader.recogniser (ppocr | plate | both); "
        "when set it overrides the value in PLATESTREAM_DETECT_BACKEND.",
    )

    def backend(self) -> OnnxBackend | UltralyticsBackend | EasyOcrBackend:
        """The backend configuration with ``detect_recogniser`` applied to its reader."""
        cfg = self.detect_backend
        if self.detect_recogniser is None or isinstance(cfg, EasyOcrBackend):
            return cfg
        reader = ReaderOptions.model_validate(
            {**cfg.reader.model_dump(), "recogniser": self.detect_recogniser}
        )
        return cfg.model_copy(update={"reader": reader})
