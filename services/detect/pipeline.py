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

logger = logging.getLogger(__name__)

VEHICLE_CLASSES = {2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}


class CropReader(Protocol):
    def read(self, plate: np.ndarray, formats: tuple[PlateFormat, ...]) -> Reading | None: ...


DetectFn = Callable[[np.ndarray], list[Detection]]
# the second look at a frame whose first boxes gave no read: (frame, its weak boxes) -> boxes
RetryFn = Callable[[np.ndarray, list[Detection]], list[Detection]]
# the cheap part of it, read before the retry: the first look's weak boxes -> boxes to read
RescueFn = Callable[[list[Detection]], list[Detection]]
# the dear part, after the retry: the frame -> boxes found without the plate detector
TextLookFn = Callable[[np.ndarray], list[Detection]]


class Pipeline:
    """Plate detector + reader (+ vehicle detector): the work of one frame, timed per stage."""

    def __init__(
        self,
        *,
        name: str,
        detect: DetectFn,
        reader: CropReader,
        retry: RetryFn | None = None,
        rescue: RescueFn | None = None,
        shapes: TextLookFn | None = None,
        text: TextLookFn | None = None,
        vehicles: DetectFn | None = None,
        margin: tuple[float, float] = (0.06, 0.12),
        crop_quality: int = 90,
        sure_conf: float = 0.0,
        rescue_read_conf: float = 0.45,
    ) -> None:
        self.name = name
        self._detect = detect
        self._retry = retry
        self._rescue = rescue
        self._shapes = shapes
        self._text = text
        self.reader = reader
        self._vehicles = vehicles
        self.margin = margin
        self.crop_quality = crop_quality
        self.sure_conf = sure_conf
        self.rescue_read_conf = rescue_read_conf

    def process(
        self, img: np.ndarray, formats: tuple[PlateFormat, ...], *, encode_crops: bool = True
    ) -> FrameResult:
        """Every plate read in ``img``: the detector's boxes, and when none of them gives a read
        that fits one of ``formats`` (nothing read, or only text no plate format takes: a sign,
        a sticker, a word read with a confidence of 0.05), the second look the backend offers,
        from cheap to dear until one does: ``rescue`` (the first look's best boxes under the
        threshold, no detector run), ``retry`` (tiles, and their boxes under the threshold),
        ``shapes`` (plate-shaped rectangles of the frame's outlines, no model), ``text``
        (plate-shaped text lines of the frame). Every look's reads are kept. Boxes marked
        ``rescued`` by the detector are kept for that second look only."""
        timings: dict[str, float] = {"plate_detect": 0.0, "ocr": 0.0}
        t0 = time.perf_counter()
        found = self._detect(img)
        first = sorted((d for d in found if not d.rescued), key=lambda d: (d.box.x, d.box.y))
        t1 = time.perf_counter()
        timings["plate_detect"] = (t1 - t0) * 1000
        vehicles: list[Detection] = []
        if self._vehicles is not None:
            vehicles = self._vehicles(img)
            timings["vehicle_detect"] = (time.perf_counter() - t1) * 1000
        t2 = time.perf_counter()
        plates = self._read(img, first, formats, vehicles, encode_crops)
        timings["ocr"] = (time.perf_counter() - t2) * 1000
        weak = [d for d in found if d.rescued]
        tried: list[Detection] = []
        for look, remembered in self._second_looks(img, weak):
            if any(p.reading.plate_format for p in plates):
                break  # a plate of the camera's formats was read: the frame needs no other look
            t3 = time.perf_counter()
            boxes = [d for d in look() if not _read_already(d, first, tried)]
            t4 = time.perf_counter()
            timings["plate_detect"] += (t4 - t3) * 1000
            boxes.sort(key=lambda d: (d.box.x, d.box.y))
            plates += self._read(img, boxes, formats, vehicles, encode_crops)
            if remembered:
                tried += [d for d in boxes if d.rescued]
            timings["ocr"] += (time.perf_counter() - t4) * 1000
        return FrameResult(_one_per_plate(plates), timings)

    def _second_looks(
        self, img: np.ndarray, weak: list[Detection]
    ) -> list[tuple[Callable[[], list[Detection]], bool]]:
        """The second looks in order, each with whether a later look skips the boxes it read.
        The shape look's are not remembered: its box is a whole plate outline (or a rectangle
        around it), while the text look's line box, tight on the characters, often reads the same
        plate where the outline's crop did not."""
        looks: list[tuple[Callable[[], list[Detection]], bool]] = []
        rescue, retry, shapes, text = self._rescue, self._retry, self._shapes, self._text
        if rescue is not None:
            looks.append((lambda: rescue(weak), True))
        if retry is not None:
            looks.append((lambda: retry(img, weak), True))
        if shapes is not None:
            looks.append((lambda: shapes(img), False))
        if text is not None:
            looks.append((lambda: text(img), True))
        return looks

    def _read(
        self,
        img: np.ndarray,
        dets: list[Detection],
        formats: tuple[PlateFormat, ...],
        vehicles: list[Detection],
        encode_crops: bool,
    ) -> list[PlateResult]:
        import cv2

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
            if det.rescued and (
                reading.plate_format is None or reading.confidence < self.rescue_read_conf
            ):
                continue
            jpeg = None
            if encode_crops:
                ok, buf = cv2.imencode(".jpg", patch, [cv2.IMWRITE_JPEG_QUALITY, self.crop_quality])
                jpeg = buf.tobytes() if ok else None
            vbox, vtype = _vehicle_for(det.box, vehicles)
            plates.append(
                PlateResult(
                    det.box,
                    det.score,
                    reading,
                    jpeg,
                    (patch.shape[1], patch.shape[0]),
                    vbox,
                    vtype,
                    det.rescued,
                )
            )
        return plates


def _one_per_plate(plates: list[PlateResult]) -> list[PlateResult]:
    """One read per plate: of reads with the same text where one box holds the other's centre
    (the shape look can find a plate's outline and a rectangle around or inside it, and read the
    plate in both), the most confident read is kept (of equals, the smallest box)."""
    if len(plates) < 2:
        return plates
    kept: list[PlateResult] = []
    for p in sorted(plates, key=lambda p: (-p.reading.confidence, p.box.w * p.box.h)):
        if not any(k.reading.text == p.reading.text and _nested(k.box, p.box) for k in kept):
            kept.append(p)
    ids = {id(p) for p in kept}
    return [p for p in plates if id(p) in ids]


def _nested(a: Box, b: Box) -> bool:
    """One of the boxes holds the other's centre."""
    return a.contains_point(b.x + b.w / 2, b.y + b.h / 2) or b.contains_point(
        a.x + a.w / 2, a.y + a.h / 2
    )


def _read_already(d: Detection, first: list[Detection], tried: list[Detection]) -> bool:
    """A box of a second look that overlaps a first box, or a rescued box that overlaps one read
    already on an earlier second look (a box found at the threshold reads under a laxer rule)."""
    return any(d.box.iou(f.box) >= 0.5 for f in first) or (
        d.rescued and any(d.box.iou(t.box) >= 0.5 for t in tried)
    )


def _vehicle_for(plate: Box, vehicles: list[Detection]) -> tuple[Box | None, str | None]:
    """The smallest vehicle box that holds the plate's centre."""
    cx, cy = plate.x + plate.w / 2, plate.y + plate.h / 2
    holding = [v for v in vehicles if v.box.contains_point(cx, cy)]
    if not holding:
        return None, None
    best = min(holding, key=lambda v: v.box.w * v.box.h)
    return best.box, best.label
