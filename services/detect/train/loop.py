"""The training loop: CTC loss on rendered batches, a step-based schedule, held-out accuracy per epoch."""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from services.detect import ctc
from services.detect.train import data
from services.detect.train.model import Crnn

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """What `platestream models train` was asked for; with ``steps`` set, the run is reproducible."""

    minutes: float = 40.0
    seed: int = 7
    threads: int = 1
    steps: int | None = None  # None: as many as fit in ``minutes`` (measured after 20 steps)
    # length of the learning-rate schedule (default: ``steps``, or the planned count); a run that
    # ran out of minutes before its plan is reproduced with its steps and its planned count
    schedule_steps: int | None = None
    batch_size: int = 32
    lr: float = 2e-3
    epoch_steps: int = 250  # an "epoch" of the endless rendered stream: logged and evaluated
    val_per_region: int = 100
    device: str = (
        "cpu"  # "cuda" trains on a GPU; the batches are the same, the arithmetic not bit-equal
    )
    workers: int = 0  # processes rendering batches ahead (0: in the training process)


@dataclass
class TrainResult:
    net: Crnn
    steps: int
    seconds: float
    schedule_steps: int = 0
    held_out: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)


def ctc_loss() -> nn.CTCLoss:
    return nn.CTCLoss(blank=0, zero_infinity=True)


def train_step(
    net: Crnn,
    opt: torch.optim.Optimizer,
    x: np.ndarray,
    texts: list[str],
    loss_fn: nn.CTCLoss,
    device: str = "cpu",
) -> float:
    """One optimiser step on a batch; returns the CTC loss before the step."""
    net.train()
    log_probs = net(torch.from_numpy(x).to(device)).permute(1, 0, 2)  # (T, N, C) for CTCLoss
    targets, lengths = data.encode(texts)
    frames = torch.full((x.shape[0],), log_probs.shape[0], dtype=torch.long, device=device)
    loss = loss_fn(
        log_probs,
        torch.from_numpy(targets).to(device),
        frames,
        torch.from_numpy(lengths).to(device),
    )
    opt.zero_grad()
    loss.backward()
    nn.utils.clip_grad_norm_(net.parameters(), 5.0)
    opt.step()
    return float(loss.item())


def evaluate(net: Crnn, samples: list[data.Sample], device: str = "cpu") -> dict[str, float]:
    """Exact-match share of greedy CTC readings, per region and overall."""
    from services.detect.platerec import prepare

    net.eval()
    hits: dict[str, list[bool]] = {}
    with torch.no_grad():
        for i in range(0, len(samples), 64):
            chunk = samples[i : i + 64]
            x = torch.from_numpy(np.stack([prepare(s.crop) for s in chunk])).to(device)
            probs = net(x).exp().cpu().numpy()
            for s, p in zip(chunk, probs, strict=True):
                hits.setdefault(s.region, []).append(ctc.greedy(p).text == s.text)
    out = {region: float(np.mean(v)) for region, v in sorted(hits.items())}
    out["all"] = float(np.mean([h for v in hits.values() for h in v]))
    return out


def _lr(cfg: TrainConfig, step: int, total: int) -> float:
    warm = min(200, max(1, total // 10))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    return cfg.lr * (
        0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))
    )


def _keys(cfg: TrainConfig, step: int) -> list[str]:
    return [f"platestream-train:{cfg.seed}:{step}:{i}" for i in range(cfg.batch_size)]


def _texts_batch(keys: list[str]) -> tuple[np.ndarray, list[str]]:
    x, samples = data.batch(keys)
    return x, [s.text for s in samples]


class Batches:
    """Step ``n``'s batch, rendered in ``workers`` processes up to ``2 * workers`` steps ahead.

    The same keys give the same crops wherever they are rendered, so a run with workers trains on
    exactly the batches of a run without them.
    """

    def __init__(self, cfg: TrainConfig) -> None:
        self.cfg = cfg
        self._pool: Any = None
        self._ahead: deque[Any] = deque()
        self._next = 0
        if cfg.workers > 0:
            import multiprocessing

            self._pool = multiprocessing.get_context("fork").Pool(cfg.workers)

    def take(self, step: int) -> tuple[np.ndarray, list[str]]:
        if self._pool is None:
            return _texts_batch(_keys(self.cfg, step))
        while self._next < step + 2 * self.cfg.workers:
            self._ahead.append(self._pool.apply_async(_texts_batch, (_keys(self.cfg, self._next),)))
            self._next += 1
        return self._ahead.popleft().get()  # type: ignore[no-any-return]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()


def train(cfg: TrainConfig, log: Callable[[str], None] = logger.info) -> TrainResult:
    """Train from scratch; deterministic for a given seed and step count (on the CPU)."""
    batches = Batches(cfg)  # forked before any CUDA call or torch thread pool
    try:
        return _train(cfg, log, batches)
    finally:
        batches.close()


def _train(cfg: TrainConfig, log: Callable[[str], None], batches: Batches) -> TrainResult:
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    net = Crnn().to(cfg.device)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=1e-4)
    loss_fn = ctc_loss()
    val = data.held_out(cfg.seed, cfg.val_per_region)
    log(f"held-out set: {len(val)} crops (key namespace platestream-train-val:{cfg.seed})")
    total = cfg.steps or 10**9
    schedule = cfg.schedule_steps
    budget = cfg.minutes * 60.0
    start = time.monotonic()
    result = TrainResult(net, 0, 0.0)
    losses: list[float] = []
    step = 0
    at_20 = start
    while step < total and time.monotonic() - start < budget:
        if cfg.steps is None and step == 20:
            at_20 = time.monotonic()  # past the warm-up (the renderers' start, first allocations)
        if cfg.steps is None and step == 60:
            now = time.monotonic()
            per_step = (now - at_20) / 40
            # leave room for the evaluations (about one step's worth of time each 25 steps)
            total = max(80, 60 + int((budget - (now - start)) / (per_step * 1.08)))
            log(f"{per_step:.3f} s per step: planning {total} steps in {cfg.minutes} min")
        for group in opt.param_groups:
            group["lr"] = _lr(cfg, step, schedule or (total if total < 10**9 else 10_000))
        x, texts = batches.take(step)
        losses.append(train_step(net, opt, x, texts, loss_fn, cfg.device))
        step += 1
        if step % cfg.epoch_steps == 0 or step == total:
            acc = evaluate(net, val, cfg.device)
            entry = {
                "step": step,
                "loss": float(np.mean(losses)),
                "seconds": time.monotonic() - start,
            }
            entry.update({f"acc_{k}": v for k, v in acc.items()})
            result.history.append(entry)
            log(
                f"epoch {len(result.history)} step {step} loss {entry['loss']:.4f} "
                f"held-out exact {' '.join(f'{k} {v:.3f}' for k, v in acc.items())} "
                f"({entry['seconds']:.0f} s)"
            )
            losses = []
    result.steps = step
    result.schedule_steps = schedule or total
    result.seconds = time.monotonic() - start
    result.held_out = evaluate(net, val, cfg.device)
    result.net = net.cpu()
    log(f"done: {step} steps in {result.seconds:.0f} s; held-out exact {result.held_out}")
    return result
