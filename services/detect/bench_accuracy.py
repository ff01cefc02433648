"""Accuracy benchmark on a folder in the OpenALPR benchmark format.

Each image has a ``.txt`` beside it with one line per plate, tab-separated:
``file x y w h PLATE``. A plate counts as detected when a detection overlaps it with IoU >= 0.3,
and as read when the read of that detection equals the label (strict), or equals it with O/0 and
I/1 folded (some public labels mix them). Figures are given overall and per sub-folder, plus
(``accuracy_report``) by plate height, the character confusions and accuracy per confidence
threshold.
"""

from __future__ import annotations

import json
import logging
import statistics
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

from platestream.errors import BadInputError
from platestream.plate_formats import REGIONS, PlateFormat, formats_for
from platestream.plates import normalise
from services.detect import accuracy_report
from services.detect.pipeline import Pipeline
from services.detect.types import Box, PlateResult

logger = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
IOU_MIN = 0.3
_LOOSE = str.maketrans({"O": "0", "I": "1"})


@dataclass(frozen=True)
class Label:
    box: Box
    plate: str


@dataclass
class Sample:
    image: Path
    labels: list[Label]
    group: str


def parse_label_file(path: Path) -> list[Label]:
    """Labels of one ``.txt`` (one or more lines ``file x y w h PLATE``; tabs or spaces)."""
    labels = []
    for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t") if "\t" in line else line.split()
        if len(parts) < 6:
            raise BadInputError(f"{path}:{n}: expected 'file x y w h PLATE', got {line!r}")
        try:
            x, y, w, h = (int(float(v)) for v in parts[1:5])
        except ValueError as exc:
            raise BadInputError(f"{path}:{n}: bad box in {line!r}") from exc
        labels.append(Label(Box(x, y, w, h), normalise("".join(parts[5:]))))
    return labels


def load_dataset(root: Path) -> list[Sample]:
    """Every labelled image under ``root`` (recursively), grouped by sub-folder."""
    if not root.is_dir():
        raise BadInputError(f"dataset folder {root} does not exist")
    samples = []
    for txt in sorted(root.rglob("*.txt")):
        image = next(
            (txt.with_suffix(s) for s in IMAGE_SUFFIXES if txt.with_suffix(s).is_file()), None
        )
        if image is None:
            continue
        rel = txt.parent.relative_to(root)
        samples.append(
            Sample(image, parse_label_file(txt), str(rel) if str(rel) != "." else root.name)
        )
    if not samples:
        raise BadInputError(f"no labelled images (image + .txt) under {root}")
    return samples


def loose(plate: str) -> str:
    return plate.translate(_LOOSE)


@dataclass
class Case:
    """One labelled plate and what was read there.

    ``confidence`` is what detect emits with the read (``PlateRead.confidence``: reading confidence
    x detection score); ``read_confidence`` is the reading's alone.
    """

    image: str
    group: str
    label: str
    read: str | None
    iou: float
    confidence: float | None
    candidates: list[str] = field(default_factory=list)
    label_height: int = 0
    read_confidence: float | None = None
    rescued: bool = False

    @property
    def detected(self) -> bool:
        return self.iou >= IOU_MIN

    @property
    def exact(self) -> bool:
        return self.read == self.label

    @property
    def exact_loose(self) -> bool:
        return self.read is not None and loose(self.read) == loose(self.label)


@dataclass(frozen=True)
class FalseRead:
    """A read whose box overlaps no labelled plate (IoU under ``IOU_MIN`` with every label)."""

    image: str
    group: str
    read: str
    confidence: float
    rescued: bool


def _figures(
    cases: list[Case], ms: list[float], false_reads: list[FalseRead]
) -> dict[str, float | int]:
    n = len(cases)
    return {
        "plates": n,
        "detection_recall": round(sum(c.detected for c in cases) / n, 4) if n else 0.0,
        "exact_accuracy": round(sum(c.exact for c in cases) / n, 4) if n else 0.0,
        "exact_accuracy_o0_i1": round(sum(c.exact_loose for c in cases) / n, 4) if n else 0.0,
        "read_accuracy_of_detected": round(
            sum(c.exact for c in cases) / max(1, sum(c.detected for c in cases)), 4
        ),
        "ms_per_image_median": round(statistics.median(ms), 1) if ms else 0.0,
        "ms_per_image_mean": round(statistics.fmean(ms), 1) if ms else 0.0,
        "false_reads": len(false_reads),
        "rescued_reads": sum(c.rescued for c in cases) + sum(f.rescued for f in false_reads),
        "rescued_exact": sum(c.rescued and c.exact for c in cases),
    }


def region_of(group: str) -> str | None:
    """The region a dataset folder names (``eu``, ``us``, ``br``, ``gb``, ``openalpr-br`` ...), if any."""
    for token in reversed(group.replace("\\", "/").replace("_", "-").replace("/", "-").split("-")):
        if token.upper() in REGIONS and token.upper() != "ANY":
            return token.upper()
    return None


def formats_by_group(
    samples: list[Sample], names: tuple[str, ...] | None
) -> dict[str, tuple[PlateFormat, ...]]:
    """Formats per folder: the given names, or (``auto``/None) the region the folder names, else ANY.

    This mirrors deployment, where each camera is configured with its region's formats.
    """
    out = {}
    for group in sorted({s.group for s in samples}):
        if names and tuple(n.lower() for n in names) != ("auto",):
            out[group] = formats_for(list(names))
        else:
            region = region_of(group)
            out[group] = formats_for([region] if region else ["ANY"])
    return out


def evaluate(
    pipeline: Pipeline,
    samples: list[Sample],
    formats: tuple[PlateFormat, ...] | dict[str, tuple[PlateFormat, ...]],
    *,
    limit: int | None = None,
) -> dict[str, object]:
    """Run the pipeline over the samples; figures overall, per group, the worst cases, and the
    ``accuracy_report`` sections (by plate size, confusions, threshold curve).

    ``formats``: one set for every image, or a set per group (``formats_by_group``).
    """
    import cv2

    per_group = formats if isinstance(formats, dict) else None

    cases: list[Case] = []
    false_reads: list[FalseRead] = []
    ms_all: list[float] = []
    ms_by_group: dict[str, list[float]] = defaultdict(list)
    for sample in samples[:limit]:
        img = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
        if img is None:
            raise BadInputError(f"cannot decode image {sample.image}")
        t0 = time.perf_counter()
        fmts = per_group[sample.group] if per_group is not None else formats
        result = pipeline.process(img, fmts, encode_crops=False)  # type: ignore[arg-type]
        ms = (time.perf_counter() - t0) * 1000
        ms_all.append(ms)
        ms_by_group[sample.group].append(ms)
        cases.extend(match(sample, label, result.plates) for label in sample.labels)
        false_reads.extend(unmatched(sample, result.plates))
    groups = sorted({c.group for c in cases})
    worst = [c for c in cases if not c.exact]
    # confident misreads first (the errors that reach users), then missed plates
    worst.sort(key=lambda c: (not c.detected, -(c.confidence or 0.0)))
    return {
        "backend": pipeline.name,
        "formats": (
            {g: [f.name for f in fs] for g, fs in per_group.items()}
            if per_group is not None
            else [f.name for f in formats]  # type: ignore[union-attr]
        ),
        "overall": _figures(cases, ms_all, false_reads),
        "groups": {
            g: _figures(
                [c for c in cases if c.group == g],
                ms_by_group[g],
                [f for f in false_reads if f.group == g],
            )
            for g in groups
        },
        "worst": [asdict(c) | {"detected": c.detected} for c in worst[:40]],
        "false_reads": [asdict(f) for f in false_reads[:40]],
        "failures": len(worst),
        # every plate not read exactly, in short, so two runs compare image by image
        "failed": [[c.image, c.label, c.read] for c in worst],
        **accuracy_report.sections(cases),
    }


def unmatched(sample: Sample, plates: list[PlateResult]) -> list[FalseRead]:
    """The reads of an image that overlap none of its labelled plates."""
    return [
        FalseRead(
            image=sample.image.name,
            group=sample.group,
            read=p.reading.text,
            confidence=round(p.reading.confidence * p.detection_confidence, 4),
            rescued=p.rescued,
        )
        for p in plates
        if all(p.box.iou(label.box) < IOU_MIN for label in sample.labels)
    ]


def match(sample: Sample, label: Label, plates: list[PlateResult]) -> Case:
    """The case of one label: the detection overlapping it most, if it overlaps enough."""
    best = max(plates, key=lambda p: p.box.iou(label.box), default=None)
    iou = best.box.iou(label.box) if best else 0.0
    hit = best if best is not None and iou >= IOU_MIN else None
    return Case(
        image=str(sample.image.name),
        group=sample.group,
        label=label.plate,
        read=hit.reading.text if hit else None,
        iou=round(iou, 3),
        # as detect publishes it (processor: reading confidence x detection score)
        confidence=hit.reading.confidence * hit.detection_confidence if hit else None,
        candidates=[c.text for c in hit.reading.candidates] if hit else [],
        label_height=label.box.h,
        read_confidence=hit.reading.confidence if hit else None,
        rescued=hit.rescued if hit else False,
    )


def render(report: dict[str, object]) -> str:
    """Human-readable summary of ``evaluate``'s report."""
    fmts = report["formats"]
    shown = (
        "; ".join(f"{g}: {','.join(v)}" for g, v in fmts.items())
        if isinstance(fmts, dict)
        else ",".join(fmts)  # type: ignore[arg-type]
    )
    lines = [f"backend {report['backend']}", f"formats {shown}"]
    head = (
        f"{'group':18} {'plates':>6} {'recall':>7} {'exact':>7} {'exact~':>7} {'ms/img':>7} "
        f"{'false':>5} {'rescued':>7}"
    )
    lines.append(head)

    def row(name: str, f: dict[str, float]) -> str:
        return (
            f"{name:18} {f['plates']:>6} {f['detection_recall']:>7.2%} {f['exact_accuracy']:>7.2%} "
            f"{f['exact_accuracy_o0_i1']:>7.2%} {f['ms_per_image_median']:>7.1f} "
            f"{f['false_reads']:>5} {f['rescued_exact']:>3}/{f['rescued_reads']:<3}"
        )

    for g, f in report["groups"].items():  # type: ignore[attr-defined]
        lines.append(row(g, f))
    lines.append(row("OVERALL", report["overall"]))  # type: ignore[arg-type]
    lines.append(
        "exact~: with O/0 and I/1 equal; ms/img: median, whole pipeline; false: reads on no "
        "labelled plate; rescued: exact / all reads of boxes under the detector's threshold"
    )
    lines.append(f"worst cases ({report['failures']} failures):")
    for c in report["worst"]:  # type: ignore[attr-defined]
        what = "MISSED" if not c["detected"] else f"read {c['read']!r}"
        lines.append(
            f"  {c['image']:24} label {c['label']:10} {what} iou={c['iou']} conf={c['confidence']} "
            f"cands={c['candidates'][:3]}"
        )
    for f in report.get("false_reads", []):  # type: ignore[attr-defined]
        lines.append(
            f"  false read {f['read']!r} in {f['image']} conf={f['confidence']}"
            + (" (rescued)" if f["rescued"] else "")
        )
    lines.extend(accuracy_report.render(report))
    return "\n".join(lines)


def write_json(report: dict[str, object], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2), encoding="utf-8")
