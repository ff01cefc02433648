"""Redaction of stored scene images (issue 17 item 3): faces and the plates other than the read
one are blurred, the read plate's pixels are left exactly as they were.

A synthetic scene (the project's plate generator, two plates, and a real face from the picture
scikit-image ships) with the project's plate detector and the face cascade; then the real photos
of the shared dataset, with screenshots in var/test-artifacts/ and the time per image in
var/test-artifacts/redaction-times.json (recorded in docs/privacy.md, not asserted)."""

from __future__ import annotations

import json
import random
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

from platestream.redact import (
    ORIGINALS_PREFIX,
    Redactor,
    Region,
    blur,
    choose_kept,
    onnx_plate_finder,
    original_key,
)
from services.detect import models

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "var" / "test-artifacts"
DATASET = ROOT.parent / "shared" / "datasets" / "openalpr-br"
PLATE_MODEL = models.DEFAULT_MODEL_DIR / models.PLATE_ONNX
needs_model = pytest.mark.skipif(
    not PLATE_MODEL.is_file(), reason=f"{PLATE_MODEL} missing: run `platestream models prepare`"
)


def _sharpness(img: np.ndarray, r: Region) -> float:
    import cv2

    patch = cv2.cvtColor(_pixels(img, r), cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(patch, cv2.CV_64F).var())


def _pixels(img: np.ndarray, r: Region) -> np.ndarray:
    x, y = max(r.x, 0), max(r.y, 0)  # a label may start a pixel outside the photo
    return img[y : r.y + r.h, x : r.x + r.w]


# ---- pure logic ----------------------------------------------------------------------------------
def test_the_read_plate_is_the_detection_over_the_records_box_else_the_largest() -> None:
    a, b = Region(10, 10, 100, 30), Region(300, 40, 160, 40)
    assert choose_kept([a, b], Region(12, 12, 95, 28)) == a
    assert choose_kept([a, b], None) == b  # no box: the largest (the vehicle in front)
    assert choose_kept([a, b], Region(600, 600, 50, 20)) == Region(600, 600, 50, 20)
    assert choose_kept([], None) is None
    assert original_key("images/cam/x.jpg") == ORIGINALS_PREFIX + "images/cam/x.jpg"


def test_a_blurred_region_overlapping_the_read_plate_leaves_its_pixels_exact() -> None:
    rng = np.random.default_rng(1)
    img = rng.integers(0, 255, (200, 300, 3), dtype=np.uint8)
    before = img.copy()
    read, other = Region(50, 50, 80, 30), Region(115, 40, 120, 60)  # they overlap a little
    result = Redactor(find_plates=lambda _img: [read, other], faces=False).redact(img, read)
    assert (result.plates, result.kept) == (1, read)
    assert np.array_equal(_pixels(img, read), _pixels(before, read))
    rest = Region(130, 40, 105, 60)  # the other plate, outside the read one: changed
    assert np.abs(_pixels(img, rest).astype(int) - _pixels(before, rest)).mean() > 20
    assert np.array_equal(img[150:, :], before[150:, :])  # nothing else touched


def test_blur_stays_inside_the_image() -> None:
    img = np.full((50, 50, 3), 7, np.uint8)
    blur(img, Region(-10, -10, 30, 500))  # clipped, no error
    blur(img, Region(49, 49, 10, 10))  # one pixel: nothing to do


def test_undecodable_bytes_are_said_so() -> None:
    data, result = Redactor(find_plates=None).redact_bytes(b"not an image")
    assert data is None and result.status == "undecodable"


# ---- a synthetic scene with the real detectors ------------------------------------------------
def _synthetic_scene() -> tuple[np.ndarray, list[Region], Region]:
    import cv2
    from skimage import data

    from services.detect import synth

    rng = random.Random(7)
    scene = synth._scene(rng, (1280, 720))
    plates = []
    for i, (x, y) in enumerate([(150, 470), (800, 430)]):
        cv2.rectangle(scene, (x - 120, y - 160), (x + 360, y + 90), (60 + 60 * i, 80, 140), -1)
        plate = synth.draw_plate(synth.plate_spec(rng, "gb"), rng)
        h = int(240 * plate.shape[0] / plate.shape[1])
        plate = cv2.resize(plate, (240, h), interpolation=cv2.INTER_AREA)
        scene[y : y + h, x : x + 240] = plate
        plates.append(Region(x, y, 240, h))
    face = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)[40:200, 150:300]  # a real face
    scene[60:220, 560:710] = face
    return scene, plates, Region(592, 90, 90, 90)


@needs_model
def test_synthetic_scene_other_plate_and_face_blurred_read_plate_untouched() -> None:
    import cv2

    scene, (read, other), face = _synthetic_scene()
    before = scene.copy()
    redactor = Redactor(find_plates=onnx_plate_finder(PLATE_MODEL))
    result = redactor.redact(scene, read)
    assert result.plates == 1 and result.faces >= 1, result
    assert result.kept is not None and result.kept.overlap(read) > 0.8
    assert np.array_equal(_pixels(scene, read), _pixels(before, read))
    assert _sharpness(scene, other) < 0.1 * _sharpness(before, other)
    assert _sharpness(scene, face) < 0.1 * _sharpness(before, face)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(ARTIFACTS / "redaction-synthetic.png"), np.hstack([before, scene]))
    # through bytes, as the sink stores it: the same, the read plate through one JPEG at q95
    ok, jpeg = cv2.imencode(".png", before)
    assert ok
    out, again = redactor.redact_bytes(jpeg.tobytes(), read, quality=95)
    assert out is not None and again.plates == 1
    stored = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR)
    diff = np.abs(_pixels(stored, read).astype(int) - _pixels(before, read))
    assert diff.mean() < 3  # JPEG rounding only
    assert _sharpness(stored, other) < 0.2 * _sharpness(before, other)


# ---- real photos ----------------------------------------------------------------------------
@needs_model
@pytest.mark.skipif(not DATASET.is_dir(), reason=f"{DATASET} absent (the shared dataset)")
# every third photo in make test (38 of 114); all of them with `make test-long`
@pytest.mark.parametrize("stride", [pytest.param(1, marks=pytest.mark.slow, id="all"), 3])
def test_real_photos_keep_the_read_plate_and_record_the_time_per_image(stride: int) -> None:
    import cv2

    redactor = Redactor(find_plates=onnx_plate_finder(PLATE_MODEL))
    times, blurred_plates, faces, shots = [], 0, 0, 0
    photos = sorted(DATASET.glob("*.jpg"))[::stride]
    assert photos
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for photo in photos:
        label = photo.with_suffix(".txt").read_text().split("\t")
        read = Region(*(int(v) for v in label[1:5]))
        data = photo.read_bytes()
        t0 = time.perf_counter()
        out, result = redactor.redact_bytes(data, read)
        times.append((time.perf_counter() - t0) * 1000)
        assert out is not None, photo.name
        before = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        after = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR)
        diff = np.abs(_pixels(after, read).astype(int) - _pixels(before, read))
        assert diff.mean() < 3, (photo.name, diff.mean())  # untouched but for JPEG rounding
        blurred_plates += result.plates
        faces += result.faces
        if (result.plates or result.faces) and shots < 6:
            small = [
                cv2.resize(i, (640, int(640 * i.shape[0] / i.shape[1]))) for i in (before, after)
            ]
            cv2.imwrite(str(ARTIFACTS / f"redaction-{photo.stem}.png"), np.hstack(small))
            shots += 1
    summary = {
        "photos": len(photos),
        "median_ms": round(statistics.median(times), 1),
        "p90_ms": round(sorted(times)[int(0.9 * len(times))], 1),
        "other_plates_blurred": blurred_plates,
        "faces_blurred": faces,
        "photos_changed_shots": shots,
    }
    (ARTIFACTS / "redaction-times.json").write_text(json.dumps(summary, indent=1))
    print(summary)
