"""`platestream bench detect`: its figures come from timed frames that were read, with the
reference unit measured in the same run."""

from __future__ import annotations

from services.detect import bench_speed, yolo


def test_bench_detect_reports_reads_and_reference_units(pipeline) -> None:  # type: ignore[no-untyped-def]
    report = bench_speed.run(runs=3, threads=2)
    assert len(report["reference_unit_us"]) == 2 and all(u > 0 for u in report["reference_unit_us"])
    for name in ("720p", "1080p"):
        size = report["sizes"][name]
        assert size["frames_with_plate_found"] >= 2  # plates big enough to be found at 640 px
        assert size["ms_min"] <= size["ms_median"] <= size["ms_p95"]
        assert size["ms_min"] <= size["ms_mean"]  # in ms, from the same timed frames
        assert size["cpu_ru_median"] > 0
    empty = report["sizes"]["1080p-none"]  # the same scenes, their plate painted over
    assert empty["frames_with_plate_found"] <= 1 and empty["cpu_ru_median"] > 0
    text = bench_speed.render(report)
    assert "1080p" in text and "ru" in text and "no plate in them" in text


def test_free_shape_letterbox_pads_to_the_stride_only() -> None:
    import numpy as np

    frame = np.zeros((1080, 1920, 3), np.uint8)
    square, scale, (dx, dy) = yolo.letterbox(frame, 640)
    rect, rscale, (rdx, rdy) = yolo.letterbox(frame, 640, rect=True)
    assert square.shape == (640, 640, 3) and (dx, dy) == (0, 140)
    assert rect.shape == (384, 640, 3) and (rdx, rdy) == (0, 12)
    assert scale == rscale == 640 / 1920
    portrait = yolo.letterbox(np.zeros((1000, 500, 3), np.uint8), 640, rect=True)[0]
    assert portrait.shape == (640, 320, 3)
