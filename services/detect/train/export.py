"""Writing the trained recogniser: ONNX graph plus a JSON with its alphabet, input and figures."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from services.detect.ctc import ALPHABET
from services.detect.platerec import INPUT_H, INPUT_W
from services.detect.train.model import Crnn, Exported


def export_onnx(net: Crnn, path: Path) -> Path:
    """``net`` as ONNX at ``path``: input ``image`` (N, 1, 32, 128), output ``probs`` (N, 32, 37)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    model = Exported(net).eval()
    dummy = torch.zeros(1, 1, INPUT_H, INPUT_W)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=["image"],
        output_names=["probs"],
        dynamic_axes={"image": {0: "n"}, "probs": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    return path


def write_meta(path: Path, extra: dict[str, Any]) -> Path:
    """The JSON next to the ONNX file that ``platerec.PlateRec`` checks before loading it."""
    meta = {
        "alphabet": ALPHABET,
        "blank": 0,
        "input_size": [INPUT_H, INPUT_W],
        "input": "grey, resized to 32x128 without keeping the aspect, x / 127.5 - 1",
        "output": "softmax over blank + alphabet, 32 frames",
        **extra,
    }
    meta_path = path.with_suffix(".json")
    meta_path.write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
    return meta_path
