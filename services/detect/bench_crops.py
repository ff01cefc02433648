"""Crop-level accuracy: the reader alone on ground-truth plate boxes, so detector misses do not count.

Each labelled plate is cut out with the reader's usual margins (as if the detector had found the
labelled box exactly) and read with the camera's formats (the region the folder names). Figures
per folder: exact, exact with O/0 and I/1 equal, and milliseconds per crop (reading only).
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from pathlib import Path

from platestream.errors import BadInputError
from services.detect.bench_accuracy import formats_by_group, load_dataset, loose
from services.detect.reader import PlateReader, crop, expand_box


def evaluate(reader: PlateReader, dataset: Path, *, limit: int | None = None) -> dict[str, object]:
    """Read every labelled box of ``dataset``; figures per folder and overall, and the misses."""
    import cv2

    samples = load_dataset(dataset)[:limit]
    formats = formats_by_group(samples, None)
    hits: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    ms: dict[str, list[float]] = defaultdict(list)
    misses: list[dict[str, str]] = []
    for sample in samples:
        img = cv2.imread(str(sample.image), cv2.IMREAD_COLOR)
        if img is None:
            raise BadInputError(f"cannot decode image {sample.image}")
        h, w = img.shape[:2]
        for label in sample.labels:
            box = expand_box(label.box, reader.config.margin_x, reader.config.margin_y, w, h)
            t0 = time.perf_counter()
            reading = reader.read(crop(img, box), formats[sample.group])
            ms[sample.group].append((time.perf_counter() - t0) * 1000)
            text = reading.text if reading else ""
            hits[sample.group].append((text == label.plate, loose(text) == loose(label.plate)))
            if text != label.plate:
                misses.append({"image": sample.image.name, "label": label.plate, "read": text})
    groups: dict[str, dict[str, float]] = {}
    for group in [*sorted(hits), "all"]:
        rows = [r for g in hits for r in hits[g]] if group == "all" else hits[group]
        times = [t for g in ms for t in ms[g]] if group == "all" else ms[group]
        groups[group] = {
            "crops": len(rows),
            "exact": sum(r[0] for r in rows) / max(1, len(rows)),
            "exact_loose": sum(r[1] for r in rows) / max(1, len(rows)),
            "ms_median": statistics.median(times) if times else 0.0,
        }
    return {"dataset": str(dataset), "groups": groups, "misses": misses}


def render(report: dict[str, object], name: str) -> str:
    groups: dict[str, dict[str, float]] = report["groups"]  # type: ignore[assignment]
    lines = [f"crop-level reading ({name}) on {report['dataset']}"]
    lines.append(f"{'folder':14} {'crops':>6} {'exact':>7} {'O0/I1':>7} {'ms/crop':>8}")
    for g, f in groups.items():
        lines.append(
            f"{g:14} {int(f['crops']):6d} {f['exact']:7.1%} {f['exact_loose']:7.1%} "
            f"{f['ms_median']:8.1f}"
        )
    return "\n".join(lines)
