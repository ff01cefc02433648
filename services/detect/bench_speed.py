"""Speed benchmark: whole-pipeline ms per frame (720p, 1080p, one plate; 1080p with none: what a
frame that reads nothing costs, every second look included) and plates/s per stage."""

from __future__ import annotations

import os
import random
import statistics
import time
from typing import Any

import numpy as np

from platestream.bench.reference import reference_unit_us
from platestream.plate_formats import formats_for
from services.detect import backends, synth
from services.detect.settings import OnnxBackend

SIZES = {"720p": (1280, 720), "1080p": (1920, 1080), "1080p-none": (1920, 1080)}


def _frame(size: tuple[int, int], i: int, *, plate: bool = True):  # type: ignore[no-untyped-def]
    """A synthetic scene with one plate (its text), or the same scene with the plate painted
    over in the frame's median colour (None)."""
    rng = random.Random(f"platestream-bench-detect:{size}:{i}")
    while True:  # a plate big enough to be found at 640 px, like a camera aimed at a lane
        img, box, spec = synth.render_sample(rng, rng.choice(["gb", "eu", "br"]), size)
        if box[2] >= size[0] * 0.12:
            break
    if plate:
        return img, spec.text
    x, y, w, h = box
    img[y : y + h, x : x + w] = np.median(img.reshape(-1, 3), axis=0).astype(img.dtype)
    return img, None


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run(
    *,
    runs: int = 20,
    threads: int = 0,
    precision: str = "float",
    rescue_first: bool = True,
    text_look: int | None = None,
    shape_look: int | None = None,
) -> dict[str, Any]:
    """Time ``runs`` distinct frames per size after a warm-up; medians, p95 and per-stage rates."""
    cfg = OnnxBackend(threads=threads, precision=precision, rescue_first=rescue_first)  # type: ignore[arg-type]
    if text_look is not None:
        cfg = cfg.model_copy(update={"text_look": text_look})
    if shape_look is not None:
        cfg = cfg.model_copy(update={"shape_look": shape_look})
    pipeline = backends.build(cfg)
    fmts = formats_for(["EU", "GB", "BR"])
    out: dict[str, Any] = {
        "backend": pipeline.name,
        "rescue_first": rescue_first,
        "text_look": cfg.text_look,
        "shape_look": cfg.shape_look,
        "cpus": os.cpu_count(),
        "runs": runs,
        "load_average_at_start": list(os.getloadavg()),
        # the reference unit (platestream/bench/reference.py), measured before and after: CPU
        # per frame in units of it compares across machines and loads
        "reference_unit_us": [reference_unit_us()],
        "sizes": {},
    }
    for name, size in SIZES.items():
        frames = [_frame(size, i, plate=not name.endswith("-none")) for i in range(runs)]
        pipeline.process(frames[0][0], fmts)  # warm-up
        totals: list[float] = []
        cpu: list[float] = []
        stages: dict[str, list[float]] = {"plate_detect": [], "ocr": []}
        correct = found = 0
        for img, truth in frames:
            t0, c0 = time.perf_counter(), time.process_time()
            res = pipeline.process(img, fmts)
            totals.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            for k in stages:
                stages[k].append(res.timings_ms.get(k, 0.0))
            found += bool(res.plates)
            # a frame with no plate is right when it reads nothing
            correct += any(p.reading.text == truth for p in res.plates) if truth else not res.plates
        out["sizes"][name] = {
            "ms_median": round(statistics.median(totals), 1),
            # what a frame worker's throughput follows: the second looks weigh in here
            "ms_mean": round(statistics.fmean(totals), 1),
            "ms_p95": round(_pct(totals, 0.95), 1),
            "ms_min": round(min(totals), 1),
            # CPU time of all threads: what the frame costs regardless of other processes' load
            "cpu_ms_median": round(statistics.median(cpu), 1),
            "stage_ms_median": {k: round(statistics.median(v), 1) for k, v in stages.items()},
            "plates_per_s_per_stage": {
                k: round(1000 / max(statistics.median(v), 1e-3), 1) for k, v in stages.items()
            },
            "frames_with_plate_found": found,
            "frames_read_correctly": correct,
        }
    out["load_average_at_end"] = list(os.getloadavg())
    out["reference_unit_us"].append(reference_unit_us())
    ru_ms = statistics.median(out["reference_unit_us"]) / 1000
    for f in out["sizes"].values():
        f["cpu_ru_median"] = round(f["cpu_ms_median"] / ru_ms)
    return out


def render(report: dict[str, Any]) -> str:
    lines = [
        f"backend {report['backend']} on {report['cpus']} CPUs, {report['runs']} frames per size "
        f"(load average {report['load_average_at_start'][0]:.1f} -> {report['load_average_at_end'][0]:.1f}; "
        "above the CPU count means other processes shared the CPUs); reference unit "
        + " -> ".join(f"{u:.1f}" for u in report["reference_unit_us"])
        + " µs"
    ]
    for name, f in report["sizes"].items():
        st = f["stage_ms_median"]
        rate = f["plates_per_s_per_stage"]
        lines.append(
            f"{name:10} median {f['ms_median']:6.1f} ms  mean {f['ms_mean']:6.1f} ms  p95 {f['ms_p95']:6.1f} ms  min {f['ms_min']:6.1f} ms  "
            f"cpu {f['cpu_ms_median']:6.1f} ms = {f['cpu_ru_median']} ru | "
            f"detect {st['plate_detect']:.1f} ms ({rate['plate_detect']:.0f}/s)  ocr {st['ocr']:.1f} ms "
            f"({rate['ocr']:.0f} plates/s) | "
            + (
                f"frames with a read (no plate in them) {f['frames_with_plate_found']}/{report['runs']}"
                if name.endswith("-none")
                else f"found {f['frames_with_plate_found']}/{report['runs']} "
                f"read {f['frames_read_correctly']}/{report['runs']}"
            )
        )
    return "\n".join(lines)
