"""Result types of the detect stage: boxes, plate readings and the reads of one frame."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Box:
    """Axis-aligned box in pixels of the source image (x, y = top-left corner)."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def from_xyxy(cls, x1: float, y1: float, x2: float, y2: float) -> Box:
        return cls(round(x1), round(y1), max(1, round(x2 - x1)), max(1, round(y2 - y1)))

    def iou(self, other: Box) -> float:
        ix = max(0, min(self.x + self.w, other.x + other.w) - max(self.x, other.x))
        iy = max(0, min(self.y + self.h, other.y + other.h) - max(self.y, other.y))
        inter = ix * iy
        union = self.w * self.h + other.w * other.h - inter
        return inter / union if union > 0 else 0.0

    def contains_point(self, px: float, py: float) -> bool:
        return self.x <= px <= self.x + self.w and self.y <= py <= self.y + self.h

    def to_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}


@dataclass(frozen=True)
class Detection:
    """One object found by a detector."""

    box: Box
    score: float
    label: str = "plate"
    # Found under the detector's threshold, after the frame (and its tiles) gave nothing above
    # it: read only when its text fits a plate format with a confident reading.
    rescued: bool = False


@dataclass(frozen=True)
class Candidate:
    text: str
    confidence: float


@dataclass
class Reading:
    """The text read from one plate: best string, per-character confidences, alternatives."""

    text: str
    confidence: float
    char_confidences: list[float] = field(default_factory=list)
    candidates: list[Candidate] = field(default_factory=list)
    plate_format: str | None = None
    raw: str = ""
    lines: int = 1


@dataclass
class PlateResult:
    """A plate found and read in a frame."""

    box: Box
    detection_confidence: float
    reading: Reading
    crop_jpeg: bytes | None = None
    crop_size: tuple[int, int] | None = None
    vehicle_box: Box | None = None
    vehicle_type: str | None = None
    rescued: bool = False  # its box scored under the detector's threshold (Detection.rescued)


@dataclass
class FrameResult:
    """Everything the detector found in one frame, with timings per stage in ms."""

    plates: list[PlateResult]
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def total_ms(self) -> float:
        return sum(self.timings_ms.values())
