"""`platestream models train` end to end: train, log to a file, export ONNX + JSON into ``out``."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

from services.detect.train.loop import TrainConfig, train

MODEL_NAME = "plate-rec.onnx"


def run(cfg: TrainConfig, out: Path) -> dict[str, Any]:
    """Train with ``cfg``; writes ``out/plate-rec.onnx``, ``.json`` and ``train.log``; returns the JSON."""
    import torch

    from services.detect.train.export import export_onnx, write_meta

    out.mkdir(parents=True, exist_ok=True)
    log_path = out / "train.log"
    with log_path.open("w", encoding="utf-8") as fh:

        def log(line: str) -> None:
            stamped = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {line}"
            fh.write(stamped + "\n")
            fh.flush()

        log(
            f"config {cfg}; torch {torch.__version__}; {platform.processor() or platform.machine()}"
        )
        result = train(cfg, log)
        model_path = export_onnx(result.net, out / MODEL_NAME)
        log(f"exported {model_path} ({model_path.stat().st_size} bytes)")
    meta = {
        "training_steps": result.steps,
        "schedule_steps": result.schedule_steps,
        "batch_size": cfg.batch_size,
        "seed": cfg.seed,
        "minutes": cfg.minutes,
        "threads": cfg.threads,
        "lr": cfg.lr,
        "device": cfg.device,
        "workers": cfg.workers,
        "train_seconds": round(result.seconds, 1),
        "held_out_exact": {k: round(v, 4) for k, v in result.held_out.items()},
        "held_out_crops": cfg.val_per_region * 4,
        "history": result.history,
        "reproduce": (
            f"platestream models train --seed {cfg.seed} --steps {result.steps} "
            f"--schedule-steps {result.schedule_steps} --threads {cfg.threads} --minutes 600 "
            f"--batch-size {cfg.batch_size} --lr {cfg.lr} --device {cfg.device} --out {out}"
        ),
        "data": "synthetic plates from services/detect/synth.py (DejaVu fonts), augmented",
        "licence": "AGPL-3.0-or-later (trained by platestream)",
        "torch": torch.__version__,
    }
    write_meta(model_path, meta)
    return meta
