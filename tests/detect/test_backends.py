"""Backends chosen by ``type``; ultralytics and easyocr load only from local paths."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import pytest

from platestream.errors import ConfigError
from platestream.plate_formats import formats_for
from platestream.settings import load
from services.detect import backends, models
from services.detect.settings import DetectSettings, EasyOcrBackend, OnnxBackend, UltralyticsBackend

HAS_ULTRALYTICS = (
    importlib.util.find_spec("ultralytics") is not None
    and importlib.util.find_spec("torch") is not None
)
HAS_EASYOCR = importlib.util.find_spec("easyocr") is not None


def test_backend_union_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(
        "PLATESTREAM_DETECT_BACKEND", '{"type": "onnx", "tiles": "always", "conf": 0.3}'
    )
    s = load(DetectSettings)
    assert isinstance(s.detect_backend, OnnxBackend)
    assert s.detect_backend.tiles == "always"
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    monkeypatch.setenv(
        "PLATESTREAM_DETECT_BACKEND",
        f'{{"type": "ultralytics", "weights": "{weights}", "device": "cuda:1"}}',
    )
    assert isinstance(load(DetectSettings).detect_backend, UltralyticsBackend)


def test_bare_model_name_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PLATESTREAM_DETECT_BACKEND", '{"type": "ultralytics", "weights": "yolov8n.pt"}'
    )
    with pytest.raises(ConfigError, match="does not exist"):
        load(DetectSettings)
    monkeypatch.setenv("PLATESTREAM_DETECT_BACKEND", '{"type": "nope"}')
    with pytest.raises(ConfigError):
        load(DetectSettings)


def test_shipped_model_files_are_installed() -> None:
    for name, f in models.SHIPPED.items():
        assert f.path().is_file(), name


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped checkpoint re-saved and exported by `models prepare` into a fresh folder."""
    if not HAS_ULTRALYTICS:
        pytest.skip("ultralytics/torch not installed (the ml extra)")
    out = tmp_path_factory.mktemp("models")
    models.export_plate_detector(out)
    return out


@pytest.mark.ml
def test_models_prepare_exports_onnx(exported: Path) -> None:
    assert (exported / models.PLATE_ONNX).stat().st_size > 1_000_000
    assert (exported / models.PLATE_PT).is_file()


@pytest.mark.ml
def test_ultralytics_backend_reads_from_local_weights(exported: Path, br_dataset: Path) -> None:
    pipe = backends.build(UltralyticsBackend(weights=exported / models.PLATE_PT, device="cpu"))
    img = cv2.imread(str(br_dataset / "br001.jpg"))
    result = pipe.process(img, formats_for(["BR"]))
    assert [p.reading.text for p in result.plates] == ["AYO9034"]
    assert pipe.name.startswith("ultralytics:")


@pytest.mark.skipif(not HAS_EASYOCR, reason="easyocr not installed (the ml extra)")
def test_easyocr_without_weights_names_the_missing_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        backends.build(EasyOcrBackend(model_dir=tmp_path))
    assert "craft_mlt_25k.pth" in str(err.value)
    assert "english_g2.pth" in str(err.value)
    assert str(tmp_path) in str(err.value)


def _easyocr_weights_dir() -> Path | None:
    import os

    d = os.environ.get("PLATESTREAM_TEST_EASYOCR_DIR")
    return Path(d) if d and not backends.easyocr_missing_files(Path(d), ("en",)) else None


@pytest.mark.ml
@pytest.mark.skipif(
    _easyocr_weights_dir() is None,
    reason="easyocr ships no weights and none can be downloaded here; set PLATESTREAM_TEST_EASYOCR_DIR to a "
    "folder with craft_mlt_25k.pth and english_g2.pth to run the real read",
)
def test_easyocr_backend_reads_a_plate(br_dataset: Path) -> None:
    pipe = backends.build(EasyOcrBackend(model_dir=_easyocr_weights_dir()))  # type: ignore[arg-type]
    img = cv2.imread(str(br_dataset / "br001.jpg"))
    result = pipe.process(img, formats_for(["BR"]))
    assert [p.reading.text for p in result.plates] == ["AYO9034"]
