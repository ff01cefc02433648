"""The own plate recogniser: training lowers the CTC loss, ONNX matches torch, the shipped model reads."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from platestream.settings import load
from services.detect import ctc
from services.detect.platerec import SHIPPED_MODEL, PlateRec, prepare
from services.detect.settings import DetectSettings, OnnxBackend, ReaderOptions
from services.detect.train import data

HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch not installed (the ml extra)")

# the shipped model read 47 of these 50 crops (0.94, greedy decoding); the test allows a margin
SHIPPED_MIN_EXACT = 0.86


@pytest.mark.ml
@needs_torch
def test_a_few_steps_lower_the_ctc_loss() -> None:
    import torch

    from services.detect.train.loop import ctc_loss, train_step
    from services.detect.train.model import Crnn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = Crnn()
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3)
    x, samples = data.batch([f"test-batch:{i}" for i in range(8)])
    texts = [s.text for s in samples]
    losses = [train_step(net, opt, x, texts, ctc_loss()) for _ in range(25)]
    assert losses[-1] < 0.6 * losses[0], losses


@pytest.mark.ml
@needs_torch
def test_same_seed_and_steps_give_the_same_weights() -> None:
    from services.detect.train.loop import TrainConfig, train

    cfg = TrainConfig(seed=5, steps=3, batch_size=4, epoch_steps=3, val_per_region=2)
    a, b = train(cfg, log=lambda _: None), train(cfg, log=lambda _: None)
    c = train(TrainConfig(seed=6, steps=3, batch_size=4, epoch_steps=3, val_per_region=2))
    wa, wb, wc = (r.net.head.weight.detach().numpy() for r in (a, b, c))
    assert a.steps == 3 and a.history and "acc_all" in a.history[-1]
    assert (wa == wb).all()
    assert not (wa == wc).all()


@pytest.mark.ml
@needs_torch
def test_batches_rendered_by_workers_are_the_batches_of_a_run_without_them() -> None:
    from services.detect.train.loop import Batches, TrainConfig

    alone = Batches(TrainConfig(seed=5, batch_size=3))
    ahead = Batches(TrainConfig(seed=5, batch_size=3, workers=2))
    try:
        for step in range(5):
            (xa, ta), (xb, tb) = alone.take(step), ahead.take(step)
            assert ta == tb and (xa == xb).all(), step
        assert ahead._next == 4 + 2 * 2  # rendering ahead of the last step taken, bounded
    finally:
        ahead.close()


@pytest.mark.ml
@needs_torch
def test_exported_onnx_matches_torch(tmp_path: Path) -> None:
    import torch

    from services.detect.train.export import export_onnx, write_meta
    from services.detect.train.model import Crnn

    torch.manual_seed(1)
    net = Crnn().eval()
    path = export_onnx(net, tmp_path / "rec.onnx")
    write_meta(path, {"training_steps": 0})
    crops = [data.render(f"onnx-check:{i}").crop for i in range(3)]
    with torch.no_grad():
        expected = net(torch.from_numpy(np.stack([prepare(c) for c in crops]))).exp().numpy()
    got = PlateRec(path).recognise(crops)  # a batch of 3: the LSTM must not be fixed to 1
    assert len(got) == 3
    np.testing.assert_allclose(np.stack(got), expected, atol=1e-4)


def test_shipped_model_reads_synthetic_crops() -> None:
    if not SHIPPED_MODEL.is_file():
        pytest.skip("no shipped plate recogniser")
    rec = PlateRec(SHIPPED_MODEL)
    samples = [data.render(f"platestream-test:{i}") for i in range(50)]
    probs = rec.recognise([s.crop for s in samples])
    exact = np.mean([ctc.greedy(p).text == s.text for p, s in zip(probs, samples, strict=True)])
    assert exact >= SHIPPED_MIN_EXACT, exact


def test_shipped_model_metadata_matches_the_code() -> None:
    if not SHIPPED_MODEL.is_file():
        pytest.skip("no shipped plate recogniser")
    meta = json.loads(SHIPPED_MODEL.with_suffix(".json").read_text(encoding="utf-8"))
    assert meta["alphabet"] == ctc.ALPHABET and meta["input_size"] == [32, 128]
    assert meta["training_steps"] > 0 and "reproduce" in meta


def test_recogniser_setting_validation(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert ReaderOptions().recogniser == "ppocr"
    with pytest.raises(ValidationError):
        ReaderOptions(recogniser="tesseract")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="models train"):
        ReaderOptions(recogniser="plate", plate_model=tmp_path / "missing.onnx")
    # the shortcut env var overrides the backend's reader, keeping the backend's other options
    monkeypatch.setenv("PLATESTREAM_DETECT_BACKEND", '{"type": "onnx", "tiles": "off"}')
    default = load(DetectSettings).backend()
    assert isinstance(default, OnnxBackend) and default.reader.recogniser == "ppocr"
    if SHIPPED_MODEL.is_file():
        monkeypatch.setenv("PLATESTREAM_DETECT_RECOGNISER", "both")
        backend = load(DetectSettings).backend()
        assert isinstance(backend, OnnxBackend) and backend.tiles == "off"
        assert backend.reader.recogniser == "both"
