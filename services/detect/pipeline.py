"""One frame in, every plate read out: plate detection, optional vehicles, crops, the plate reader."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from platestream.plate_formats import PlateFormat
from services.detect.reader import crop, expand_box
from services.detect.types import Box, Detection, FrameResult, PlateResult, Reading
from services.detect.yolo import nms

logger = logging.getLogger(__name__)

VEHICLE_CLASSES = {2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}


class CropReader(Protocol):
    def read(self, plate: np.ndarray, formats: tuple[PlateFormat, ...]) -> Reading | None: ...


DetectFn = Callable[[np.ndarray], list[Detection]]


def tiled(
    detect: Callable[..., list[Detection]],
    img: np.ndarray,
    overlap: float = 0.2,
    *,
    include_full: bool = True,
) -> list[Detection]:
    """Detections on the whole image and on 2x2 overlapping tiles, merged by NMS.

    A 1080p frame letterboxed to 640 shrinks a distant plate threefold; on a tile it shrinks
    about 1.7-fold, which is what finds small (e.g. US, far lane) plates.
    """
    h, w = img.shape[:2]
    found = list(detect(img)) if include_full else []
    tw, th = int(w * (0.5 + overlap / 2)), int(h * (0.5 + overlap / 2))
    for x0 in (0, w - tw):
        for y0 in (0, h - th):
            found.extend(detect(img[y0 : y0 + th, x0 : x0 + tw], offset=(x0, y0)))
    if len(found) < 2:
        return found
    boxes = np.array(
        [[d.box.x, d.box.y, d.box.x + d.box.w, d.box.y + d.box.h] for d in found], dtype=np.float64
    )
    scores = np.array([d.score for d in found])
    return [found[i] for i in nms(boxes, scores, 0.4)]


class Pipeline:
    """Plate detector + reader (+ vehicle detector): the work of one frame, timed per stage."""

    def __init__(
        self,
        *,
        name: str,
        detect: DetectFn,
        reader: CropReader,
        vehicles: DetectFn | None = None,
        margin: tuple[float, float] = (0.06, 0.12),
        crop_quality: int = 90,
        sure_conf: float = 0.0,
    ) -> None:
        self.name = name
        self._detect = detect
        self.reader = reader
        self._vehicles = vehicles
        self.margin = margin
        self.crop_quality = crop_quality
        self.sure_conf = sure_conf

    def process(
        self, img: np.ndarray, formats: tuple[PlateFormat, ...], *, encode_crops: bool = True
    ) -> FrameResult:
        import cv2

        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        dets = sorted(self._detect(img), key=lambda d: (d.box.x, d.box.y))
        t1 = time.perf_counter()
        timings["plate_detect"] = (t1 - t0) * 1000
        vehicles: list[Detection] = []
        if self._vehicles is not None:
            vehicles = self._vehicles(img)
            timings["vehicle_detect"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        h, w = img.shape[:2]
        plates: list[PlateResult] = []
        for det in dets:
            box = expand_box(det.box, self.margin[0], self.margin[1], w, h)
            patch = crop(img, box)
            reading = self.reader.read(patch, formats)
            if reading is None or not reading.text:
                continue
            if det.score < self.sure_conf and reading.plate_format is None:
                continue  # an unsure box whose text fits no plate format: most likely not a plate
            jpeg = None
            if encode_crops:
                ok, buf = cv2.imencode(".jpg", patch, [cv2.IMWRITE_JPEG_QUALITY, self.crop_quality])
                jpeg = buf.tobytes() if ok else None
            vbox, vtype = _vehicle_for(det.box, vehicles)
            plates.append(
                PlateResult(
                    det.box, det.score, reading, jpeg, (patch.shape[1], patch.shape[0]), vbox, vtype
                )
            )
        timings["ocr"] = (time.perf_counter() - t2) * 1000
        return FrameResult(plates, timings)


def _vehicle_for(plate: Box, vehicles: list[Detection]) -> tuple[Box | None, str | None]:
    """The smallest vehicle box that holds the plate's centre."""
    cx, cy = plate.x + plate.w / 2, plate.y + plate.h / 2
    holding = [v for v in vehicles if v.box.contains_point(cx, cy)]
    if not holding:
        return None, None
    best = min(holding, key=lambda v: v.box.w * v.box.h)
    return best.box, best.label
