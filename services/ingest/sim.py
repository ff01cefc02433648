"""A deterministic synthetic traffic scene for demos and tests: ``render_frame(seed, t)``.

Vehicles (boxes with a windscreen and wheels) carrying plates of known text cross a two-lane road
from left to right. Everything is a function of ``(seed, t)``: the same seed gives the same plates
at the same times in every process, and ``ground_truth(seed, t)`` says which plate is where, so the
detector's and the pipeline's tests can check their reads. Plates are 180x45 px, white or yellow
with dark text drawn with OpenCV's Hershey font, large enough for an OCR to read at 1280x720.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

WIDTH, HEIGHT = 1280, 720
PLATE_W, PLATE_H = 180, 45
VEHICLE_W, VEHICLE_H = 300, 170
GAP_S = 3.0  # one vehicle enters every GAP_S seconds (plus jitter), alternating lanes
LANES_Y = (300, 520)  # top of the vehicle box per lane
LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q: what many plate systems leave out
DIGITS = "0123456789"
COLOURS = (
    (40, 40, 200),
    (200, 120, 30),
    (60, 160, 60),
    (180, 180, 180),
    (30, 30, 30),
    (20, 140, 220),
)
FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class Vehicle:
    """One vehicle of the scene: when it enters, how fast it goes, what its plate says."""

    index: int
    plate: str
    enter_s: float
    speed_px_s: float
    lane: int
    colour: tuple[int, int, int]
    yellow_plate: bool

    def x_at(self, t: float) -> float:
        return -VEHICLE_W + (t - self.enter_s) * self.speed_px_s

    def exit_s(self) -> float:
        return self.enter_s + (WIDTH + VEHICLE_W) / self.speed_px_s

    def boxes_at(self, t: float) -> tuple[tuple[int, int, int, int], tuple[int, int, int, int]]:
        """Vehicle and plate boxes (x, y, w, h) in frame coordinates (may extend past the edges)."""
        x = round(self.x_at(t))
        y = LANES_Y[self.lane]
        vbox = (x, y, VEHICLE_W, VEHICLE_H)
        # The plate sits on the vehicle's front (its right side, the way it travels), low down.
        pbox = (x + VEHICLE_W - PLATE_W - 20, y + VEHICLE_H - PLATE_H - 38, PLATE_W, PLATE_H)
        return vbox, pbox


def plate_text(rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:  # AB12CDE
        return (
            "".join(rng.choice(LETTERS) for _ in range(2))
            + "".join(rng.choice(DIGITS) for _ in range(2))
            + "".join(rng.choice(LETTERS) for _ in range(3))
        )
    if style == 1:  # ABC1234
        return "".join(rng.choice(LETTERS) for _ in range(3)) + "".join(
            rng.choice(DIGITS) for _ in range(4)
        )
    return (
        "".join(rng.choice(DIGITS) for _ in range(1))
        + "".join(rng.choice(LETTERS) for _ in range(3))
        + "".join(rng.choice(DIGITS) for _ in range(3))
    )


@lru_cache(maxsize=4096)
def vehicle(seed: int, index: int) -> Vehicle:
    """The ``index``-th vehicle of scene ``seed`` (pure function of both)."""
    rng = random.Random(f"platestream-sim:{seed}:{index}")
    return Vehicle(
        index=index,
        plate=plate_text(rng),
        enter_s=index * GAP_S + rng.uniform(0.0, 0.8),
        speed_px_s=rng.uniform(260.0, 380.0),
        lane=index % 2,
        colour=rng.choice(COLOURS),
        yellow_plate=rng.random() < 0.3,
    )


def vehicles_at(seed: int, t: float) -> list[Vehicle]:
    """Vehicles at least partly in the frame at time ``t`` (seconds from the scene's start)."""
    if t < 0:
        return []
    longest = (WIDTH + VEHICLE_W) / 260.0 + 1.0
    first = max(0, int((t - longest) // GAP_S) - 1)
    last = int(t // GAP_S) + 1
    out = []
    for i in range(first, last + 1):
        v = vehicle(seed, i)
        if v.enter_s <= t < v.exit_s():
            out.append(v)
    return out


def _visible(box: tuple[int, int, int, int]) -> bool:
    x, y, w, h = box
    return x >= 0 and y >= 0 and x + w <= WIDTH and y + h <= HEIGHT


def ground_truth(seed: int, t: float) -> list[dict[str, Any]]:
    """What ``render_frame(seed, t)`` shows: one dict per vehicle in view, plates left to right."""
    out = []
    for v in vehicles_at(seed, t):
        vbox, pbox = v.boxes_at(t)
        out.append(
            {
                "vehicle_index": v.index,
                "plate": v.plate,
                "plate_box": pbox,
                "vehicle_box": vbox,
                "plate_fully_visible": _visible(pbox),
                "lane": v.lane + 1,
                "plate_colour": "yellow" if v.yellow_plate else "white",
            }
        )
    return sorted(out, key=lambda g: g["plate_box"][0])


def passages(seed: int, t0: float, t1: float) -> list[Vehicle]:
    """Vehicles whose plate is fully visible at some moment within [t0, t1)."""
    out = []
    i = 0
    while True:
        v = vehicle(seed, i)
        if v.enter_s >= t1:
            break
        # the plate box is fully inside the frame from `start` to `end`
        offset = VEHICLE_W - PLATE_W - 20
        start = v.enter_s + (VEHICLE_W - offset) / v.speed_px_s
        end = v.enter_s + (WIDTH + VEHICLE_W - offset - PLATE_W) / v.speed_px_s
        if start < t1 and end > t0:
            out.append(v)
        i += 1
    return out


@lru_cache(maxsize=8)
def _background(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = np.full((HEIGHT, WIDTH, 3), (95, 100, 100), np.uint8)
    img[:230] = (150, 170, 120)  # verge
    noise = rng.integers(-6, 7, size=(HEIGHT, WIDTH, 1), dtype=np.int16)
    img = np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    cv2.line(img, (0, 240), (WIDTH, 240), (230, 230, 230), 4)
    for x in range(0, WIDTH, 120):
        cv2.line(img, (x, 490), (x + 60, 490), (220, 220, 220), 4)
    cv2.line(img, (0, HEIGHT - 10), (WIDTH, HEIGHT - 10), (230, 230, 230), 4)
    return img


def draw_plate(img: np.ndarray, box: tuple[int, int, int, int], text: str, *, yellow: bool) -> None:
    x, y, w, h = box
    bg = (0, 200, 250) if yellow else (245, 245, 245)
    cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), bg, -1)
    cv2.rectangle(img, (x, y), (x + w - 1, y + h - 1), (20, 20, 20), 2)
    scale, thickness = _fit(text, w - 16, h - 12)
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
    org = (x + (w - tw) // 2, y + (h + th) // 2)
    cv2.putText(img, text, org, FONT, scale, (15, 15, 15), thickness, cv2.LINE_AA)


@lru_cache(maxsize=256)
def _fit(text: str, max_w: int, max_h: int) -> tuple[float, int]:
    scale = 2.0
    while scale > 0.3:
        thickness = max(2, round(scale * 2.2))
        (tw, th), _ = cv2.getTextSize(text, FONT, scale, thickness)
        if tw <= max_w and th <= max_h:
            return scale, thickness
        scale -= 0.05
    return 0.3, 1


def render_frame(
    seed: int, t: float, *, size: tuple[int, int] = (WIDTH, HEIGHT)
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The BGR frame at ``t`` seconds of scene ``seed`` and its ground truth (boxes in 1280x720 units
    scaled to ``size`` when another size is asked for)."""
    img = _background(seed).copy()
    for v in vehicles_at(seed, t):
        (x, y, w, h), pbox = v.boxes_at(t)
        cv2.rectangle(img, (x, y + 40), (x + w, y + h), v.colour, -1)
        cv2.rectangle(img, (x + 50, y), (x + w - 60, y + 60), v.colour, -1)
        cv2.rectangle(
            img, (x + w - 110, y + 8), (x + w - 68, y + 52), (200, 220, 230), -1
        )  # windscreen
        for wx in (x + 60, x + w - 60):
            cv2.circle(img, (wx, y + h), 26, (20, 20, 20), -1)
        draw_plate(img, pbox, v.plate, yellow=v.yellow_plate)
    truth = ground_truth(seed, t)
    if size != (WIDTH, HEIGHT):
        sx, sy = size[0] / WIDTH, size[1] / HEIGHT
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        for g in truth:
            for k in ("plate_box", "vehicle_box"):
                bx, by, bw, bh = g[k]
                g[k] = (int(bx * sx), int(by * sy), int(bw * sx), int(bh * sy))
    return img, truth
