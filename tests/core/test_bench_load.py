"""The pipeline bench's frames: a photo directory when given, synthetic frames in a lone clone."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from platestream.bench import pipeline as pl
from platestream.bench.load import FrameFactory


def test_synthetic_frames_are_real_jpegs_of_the_stated_size() -> None:
    factory = FrameFactory.synthetic("run-1", count=3)
    assert len(factory.images) == 3
    for data, width, height in factory.images:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        assert img is not None and (img.shape[1], img.shape[0]) == (width, height)
    frame = factory.frame(4, received_at=1_700_000_000_000)
    assert frame["image"]["data"] == factory.images[1][0]


def test_synthetic_frames_are_deterministic() -> None:
    assert FrameFactory.synthetic("a", 2).images == FrameFactory.synthetic("b", 2).images


def test_without_a_photo_directory_the_bench_falls_back_to_synthetic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pl, "IMAGES_DIR", tmp_path / "absent")
    assert pl.frame_factory("r", None).images == FrameFactory.synthetic("r").images


def test_images_option_uses_the_given_photos(tmp_path: Path) -> None:
    img = np.full((40, 60, 3), 128, np.uint8)
    cv2.imwrite(str(tmp_path / "one.jpg"), img)
    factory = pl.frame_factory("r", tmp_path)
    assert [(w, h) for _d, w, h in factory.images] == [(60, 40)]
    with pytest.raises(FileNotFoundError):
        pl.frame_factory("r", tmp_path / "empty-does-not-exist")


def test_images_option_refuses_a_missing_directory(tmp_path: Path) -> None:
    from platestream.cli import app

    result = CliRunner().invoke(app, ["bench", "pipeline", "--images", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "--images" in result.output
