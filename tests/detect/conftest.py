"""Fixtures of the detect tests: the shared real dataset and one default pipeline per session."""

from __future__ import annotations

from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
OPENALPR_BR = SHARED / "datasets" / "openalpr-br"


@pytest.fixture(scope="session")
def pipeline():  # type: ignore[no-untyped-def]
    """The default onnx backend (needs `platestream models prepare`, which `make install` runs)."""
    from services.detect import backends, models
    from services.detect.settings import OnnxBackend

    if not (models.DEFAULT_MODEL_DIR / models.PLATE_ONNX).is_file():
        models.export_plate_detector(models.DEFAULT_MODEL_DIR)
    return backends.build(OnnxBackend(threads=2))


@pytest.fixture
def br_dataset() -> Path:
    if not OPENALPR_BR.is_dir():
        pytest.skip(f"shared dataset {OPENALPR_BR} not present")
    return OPENALPR_BR
