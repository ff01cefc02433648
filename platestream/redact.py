"""Redaction of stored scene and frame images (issue 17 item 3): faces and other vehicles' plates.

A scene image shows more than the plate that was read: drivers, passers-by, the plates of the
cars around. Before such an image is stored, `Redactor` blurs

- every face OpenCV's LBP frontal-face cascade finds (the opencv 5.0 wheel the project pins ships
  neither the Haar cascade files nor ``CascadeClassifier``; scikit-image, already in the lock,
  ships OpenCV's LBP cascade and runs it), and
- every plate the plate finder finds (the project's plate detector, ``models/plate-yolov8n-dynamic.onnx``,
  passed in as a function so that this module depends on no stage), except the read one: the
  detected plate that overlaps the record's ``plate_box``, or, when the record has none, the
  largest plate in the image (the vehicle in front of the camera).

The read plate's pixels are left exactly as they were, even where a blurred region overlaps them.
The blur is a mosaic (at most 8 cells across a region) followed by a Gaussian blur: the text of a
plate and the features of a face are gone, the image still shows where they were.
An image that cannot be decoded is not stored as is: `redact_bytes` says so and the caller decides
(the S3 sink dead-letters the record). The original is kept only where the deployment allows it,
under ``ORIGINALS_PREFIX`` (see docs/privacy.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

ORIGINALS_PREFIX = "originals/"
MAX_PIXELS = 40_000_000  # refuse to decode larger images (a JPEG bomb would fill memory)


@dataclass(frozen=True)
class Region:
    """A rectangle in image pixels."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def of(cls, box: Any) -> Region:
        """From a dict with x/y/w/h (a record's plate_box) or an object with those attributes."""
        v = [box[k] if isinstance(box, dict) else getattr(box, k) for k in ("x", "y", "w", "h")]
        return cls(int(v[0]), int(v[1]), int(v[2]), int(v[3]))

    @property
    def area(self) -> int:
        return max(self.w, 0) * max(self.h, 0)

    def overlap(self, other: Region) -> float:
        """Intersection over the smaller of the two areas (a box inside another counts as 1)."""
        w = min(self.x + self.w, other.x + other.w) - max(self.x, other.x)
        h = min(self.y + self.h, other.y + other.h) - max(self.y, other.y)
        if w <= 0 or h <= 0:
            return 0.0
        return (w * h) / max(min(self.area, other.area), 1)


PlateFinder = Callable[[np.ndarray], Sequence[Region]]


@dataclass
class Redaction:
    """What was done to one image."""

    faces: int = 0
    plates: int = 0  # plates blurred (the read one is not counted)
    kept: Region | None = None  # the read plate, left untouched
    status: str = "redacted"  # redacted | undecodable | too large


_local = threading.local()
FACE_SIDE = 640  # faces are looked for on the image scaled to this longer side


def face_cascade() -> Any:
    """OpenCV's LBP frontal-face cascade as scikit-image ships and runs it, one per thread
    (the opencv 5 wheel has neither the Haar cascade files nor CascadeClassifier)."""
    cascade = getattr(_local, "cascade", None)
    if cascade is None:
        from skimage import data
        from skimage.feature import Cascade

        cascade = Cascade(data.lbp_frontal_face_cascade_filename())
        _local.cascade = cascade
    return cascade


def find_faces(img: np.ndarray) -> list[Region]:
    """Frontal faces at least ~20 px (at 640 px on the longer side) in a BGR image."""
    import cv2

    h, w = img.shape[:2]
    scale = min(1.0, FACE_SIDE / max(h, w))
    size = (max(1, int(w * scale)), max(1, int(h * scale)))
    small = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
    gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
    side = min(gray.shape[:2])
    if side < 20:
        return []
    found = face_cascade().detect_multi_scale(
        img=gray,
        scale_factor=1.25,
        step_ratio=1.5,
        min_size=(20, 20),
        max_size=(side, side),
        min_neighbor_number=3,  # 2: 47 'faces' on 114 car photos (rear windows); 4: 2
    )
    out = []
    for f in found:  # the cascade's box is the inner face: widen it to the head (+25% a side)
        w, h = f["width"] / scale, f["height"] / scale
        x, y = f["c"] / scale - 0.25 * w, f["r"] / scale - 0.25 * h
        out.append(Region(int(x), int(y), int(1.5 * w), int(1.5 * h)))
    return out


def blur(img: np.ndarray, region: Region) -> None:
    """Mosaic then Gaussian-blur one region of ``img`` in place."""
    import cv2

    H, W = img.shape[:2]
    x0, y0 = max(region.x, 0), max(region.y, 0)
    x1, y1 = min(region.x + region.w, W), min(region.y + region.h, H)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    patch = img[y0:y1, x0:x1]
    cells = max(1, min(8, (x1 - x0) // 4))
    size = (cells, max(1, cells * (y1 - y0) // (x1 - x0)))
    small = cv2.resize(patch, size, interpolation=cv2.INTER_AREA)
    mosaic = cv2.resize(small, (x1 - x0, y1 - y0), interpolation=cv2.INTER_NEAREST)
    k = max(3, ((min(x1 - x0, y1 - y0) // 4) | 1))
    img[y0:y1, x0:x1] = cv2.GaussianBlur(mosaic, (k, k), 0)


def choose_kept(plates: Sequence[Region], read: Region | None) -> Region | None:
    """The read plate among the detected ones: the one overlapping the record's box, else the
    record's box itself, else (no box) the largest detected plate."""
    if read is not None:
        best = max(plates, key=read.overlap, default=None)
        return best if best is not None and read.overlap(best) >= 0.3 else read
    return max(plates, key=lambda r: r.area, default=None)


class Redactor:
    """Blurs faces and the plates other than the read one; thread-safe (no state per image)."""

    def __init__(self, *, find_plates: PlateFinder | None, faces: bool = True) -> None:
        self.find_plates = find_plates
        self.faces = faces

    def redact(self, img: np.ndarray, read: Region | None = None) -> Redaction:
        """Redact ``img`` (BGR) in place; ``read``: the read plate's box, when known."""
        plates = list(self.find_plates(img)) if self.find_plates is not None else []
        kept = choose_kept(plates, read)
        others = [p for p in plates if kept is None or p.overlap(kept) < 0.3]
        face_boxes = find_faces(img) if self.faces else []
        if kept is not None:  # a "face" inside the read plate is the cascade misfiring on text
            face_boxes = [f for f in face_boxes if f.overlap(kept) < 0.5]
        original = None
        if kept is not None and (others or face_boxes):
            x0, y0 = max(kept.x, 0), max(kept.y, 0)
            original = (x0, y0, img[y0 : kept.y + kept.h, x0 : kept.x + kept.w].copy())
        for region in [*others, *face_boxes]:
            blur(img, region)
        if original is not None:  # the read plate's pixels stay exactly as they were
            x0, y0, pixels = original
            img[y0 : y0 + pixels.shape[0], x0 : x0 + pixels.shape[1]] = pixels
        return Redaction(faces=len(face_boxes), plates=len(others), kept=kept)

    def redact_bytes(
        self, data: bytes, read: Region | None = None, *, quality: int = 90, ext: str = ".jpg"
    ) -> tuple[bytes | None, Redaction]:
        """Decode a JPEG/PNG, redact it, encode it as ``ext``; (None, why) when it cannot be read."""
        import cv2

        buf = np.frombuffer(data, np.uint8)
        header = cv2.imdecode(buf, cv2.IMREAD_REDUCED_GRAYSCALE_8)
        if header is not None and header.shape[0] * header.shape[1] * 64 > MAX_PIXELS:
            return None, Redaction(status="too large")
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if img is None:
            return None, Redaction(status="undecodable")
        result = self.redact(img, read)
        if not result.faces and not result.plates:
            return data, result  # nothing to hide: the bytes as they came
        params = [cv2.IMWRITE_JPEG_QUALITY, quality] if ext in (".jpg", ".jpeg") else []
        ok, out = cv2.imencode(ext, img, params)
        if not ok:
            return None, Redaction(status="undecodable")
        return out.tobytes(), result


def onnx_plate_finder(path: Any = None, *, conf: float = 0.25, threads: int = 1) -> PlateFinder:
    """The project's plate detector (``models/plate-yolov8n-dynamic.onnx``) as a plate finder."""
    from pathlib import Path

    from services.detect import models
    from services.detect.yolo import YoloOnnx

    model = Path(path) if path else models.DEFAULT_MODEL_DIR / models.PLATE_ONNX
    yolo = YoloOnnx(model, labels={0: "plate"}, threads=threads)

    def find(img: np.ndarray) -> list[Region]:
        return [Region.of(d.box) for d in yolo.detect(img, conf=conf)]

    return find


def original_key(key: str) -> str:
    """Where the unredacted original of ``key`` is kept (when the deployment allows it)."""
    return ORIGINALS_PREFIX + key


class StoreRedaction:
    """What an image writer calls before it stores an image: the bytes to store.

    Plate crops are stored as they are (they are the read plate); every other image (scene,
    vehicle, frame) is redacted, and its original handed to ``keep_original`` (key under
    ``originals/``) when the deployment keeps originals. An image that cannot be redacted raises
    ValueError: the writer dead-letters its record rather than store it unredacted.
    """

    def __init__(
        self, redactor: Redactor, *, keep_original: Callable[[str, bytes], None] | None = None
    ) -> None:
        self.redactor = redactor
        self.keep_original = keep_original

    def prepare(self, key: str, kind: str, data: bytes, read_box: Any = None) -> bytes:
        if kind == "plate":
            return data
        read = Region.of(read_box) if read_box else None
        ext = ".png" if key.lower().endswith(".png") else ".jpg"
        out, result = self.redactor.redact_bytes(data, read, ext=ext)
        if out is None:
            raise ValueError(f"image {key} cannot be redacted ({result.status}); not stored")
        if self.keep_original is not None and out is not data:
            self.keep_original(original_key(key), data)
        return out


def store_redaction(
    settings: Any, keep_original: Callable[[str, bytes], None]
) -> StoreRedaction | None:
    """The redaction an image writer applies under its settings (``sink_s3_redact``), or None."""
    if not getattr(settings, "sink_s3_redact", False):
        return None
    redactor = Redactor(find_plates=onnx_plate_finder())
    keep = keep_original if getattr(settings, "sink_s3_redact_keep_originals", False) else None
    return StoreRedaction(redactor, keep_original=keep)
