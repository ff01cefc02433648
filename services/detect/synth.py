"""A synthetic labelled plate set with known ground truth, in the OpenALPR benchmark format.

Plates of several regions are drawn (GB, EU with the blue band and country code, US with state
name and slogan lines, BR old with the city line, BR Mercosur with its blue header, two-line
motorcycle plates), then warped in perspective, blurred, noised and pasted onto a cluttered
scene. ``generate(out_dir, n)`` writes ``<region>/<name>.jpg`` + ``.txt`` (``file x y w h PLATE``)
so `platestream bench accuracy` reads it like the real sets, per region folder.

It measures the reader's handling of layout (bands, extra text lines, two lines, frames and
screws) and of image degradations; it is not a substitute for real photos: the fonts are DejaVu,
not the real plate typefaces.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = (
    "DejaVuSans-Bold.ttf",
    "DejaVuSansCondensed-Bold.ttf",
    "DejaVuSansMono-Bold.ttf",
    "DejaVuSansCondensed.ttf",
)
REGIONS = ("gb", "eu", "us", "br")
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
DIGITS = "0123456789"
US_STATES = (
    "CALIFORNIA",
    "NEW YORK",
    "TEXAS",
    "FLORIDA",
    "ILLINOIS",
    "NEW JERSEY",
    "OHIO",
    "ARIZONA",
    "PENNSYLVANIA",
    "GEORGIA",
    "NORTH CAROLINA",
    "MICHIGAN",
    "VIRGINIA",
    "WASHINGTON",
    "MASSACHUSETTS",
    "COLORADO",
)
US_SLOGANS = (
    "dmv.ca.gov",
    "Empire State",
    "The Lone Star State",
    "Sunshine State",
    "Land of Lincoln",
    "Garden State",
    "Birthplace of Aviation",
    "Grand Canyon State",
    "visitPA.com",
    "Peach State",
    "First in Flight",
    "Great Lakes State",
    "Virginia is for Lovers",
    "Evergreen State",
    "The Spirit of America",
    "Colorful Colorado",
)
BR_CITIES = ("SP-SAO PAULO", "RJ-RIO DE JANEIRO", "MG-BELO HORIZONTE", "BA-SALVADOR", "PR-CURITIBA")
EU_CODES = {"DE": "D", "FR": "F", "NL": "NL", "ES": "E", "IT": "I", "PL": "PL"}


@dataclass(frozen=True)
class PlateSpec:
    text: str  # ground truth (normalised)
    shown: str  # as printed, with separators; "\n" splits two rows
    region: str  # folder: gb | eu | us | br
    style: str


def _rand(rng: random.Random, pattern: str, letters: str = LETTERS) -> str:
    return "".join(
        rng.choice(letters) if c == "L" else rng.choice(DIGITS) if c == "D" else c for c in pattern
    )


def plate_spec(rng: random.Random, region: str) -> PlateSpec:
    """A random plate of ``region`` with its printed form."""
    if region == "gb":
        t = _rand(rng, "LLDDLLL", "ABCDEFGHJKLMNOPRSTUVWXYZ")
        return PlateSpec(t, f"{t[:4]} {t[4:]}", "gb", rng.choice(["gb_white", "gb_yellow"]))
    if region == "eu":
        country = rng.choice(list(EU_CODES))
        if country == "DE":
            t = _rand(rng, rng.choice(["LLLDDDD", "LLLDD", "LLLDDD", "LLDDDD"]))
            cut = rng.choice([1, 2]) if len(t) > 4 else 1
            letters = len(t.rstrip(DIGITS))
            shown = (
                f"{t[:cut]}-{t[cut:letters]} {t[letters:]}"
                if letters > cut
                else f"{t[:letters]} {t[letters:]}"
            )
        elif country in ("FR", "IT"):
            t = _rand(rng, "LLDDDLL")
            shown = f"{t[:2]}-{t[2:5]}-{t[5:]}" if country == "FR" else f"{t[:2]} {t[2:5]} {t[5:]}"
        elif country == "ES":
            t = _rand(rng, "DDDDLLL", "BCDFGHJKLMNPRSTVWXYZ")
            shown = f"{t[:4]} {t[4:]}"
        elif country == "NL":
            t = _rand(rng, rng.choice(["DDLLLD", "LLDDDL", "DLLLDD", "LLLLDD"]))
            shown = t[:2] + "-" + t[2:4] + "-" + t[4:]
        else:
            t = _rand(rng, rng.choice(["LLDDDDD", "LLLDDDD"]))
            shown = f"{t[:3]} {t[3:]}" if t[2].isalpha() else f"{t[:2]} {t[2:]}"
        return PlateSpec(t, shown, "eu", f"eu_{country}")
    if region == "us":
        state = rng.randrange(len(US_STATES))
        pattern = {
            0: "DLLLDDD",
            1: "LLLDDDD",
            2: "LLLDDDD",
            3: "LLLLDD",
            4: "LLDDDDD",
            5: "LDDLLL",
            8: "LLLDDDD",
            9: "LLLDDDD",
            10: "LLLDDDD",
            11: "LLLDDDD",
            12: "LLLDDDD",
            13: "LLLDDDD",
            14: "DDDLLL",
        }.get(state, "LLLDDD")
        t = _rand(rng, pattern)
        return PlateSpec(
            t, t if len(t) < 7 or rng.random() < 0.5 else f"{t[:3]} {t[3:]}", "us", f"us_{state}"
        )
    if rng.random() < 0.5:
        t = _rand(rng, "LLLDDDD")
        return PlateSpec(t, f"{t[:3]}-{t[3:]}", "br", "br_old")
    t = _rand(rng, "LLLDLDD")
    if rng.random() < 0.3:
        return PlateSpec(t, f"{t[:3]}\n{t[3:]}", "br", "br_moto")
    return PlateSpec(t, t, "br", "br_mercosur")


def _font(name: str, size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    return ImageFont.truetype(str(FONT_DIR / name), size)


def draw_plate(spec: PlateSpec, rng: random.Random) -> np.ndarray:
    """The plate as a flat BGR image, about 520 x 110 px (two-line: 300 x 200)."""
    from PIL import Image, ImageDraw

    two_line = "\n" in spec.shown
    w, h = (300, 200) if two_line else (520, 112)
    bg = (245, 245, 245)
    fg = (20, 20, 20)
    if spec.style == "gb_yellow":
        bg = (250, 210, 30)
    if spec.style == "br_old":
        bg = (200, 200, 200)
    if spec.style.startswith("us_"):
        bg = rng.choice([(240, 240, 240), (235, 240, 250), (250, 245, 225)])
        fg = rng.choice([(20, 20, 90), (20, 20, 20), (110, 20, 20)])
    img = Image.new("RGB", (w, h), bg)
    d = ImageDraw.Draw(img)
    d.rectangle([1, 1, w - 2, h - 2], outline=(30, 30, 30), width=rng.choice([2, 3, 5]))
    x0, top, bottom = 12, 8, h - 8
    font_name = rng.choice(FONTS)
    if spec.region in ("eu", "gb") and (spec.region == "eu" or rng.random() < 0.5):
        band = int(w * 0.09)
        d.rectangle([3, 3, band, h - 4], fill=(30, 60, 170))
        code = EU_CODES.get(spec.style[3:], "GB") if spec.region == "eu" else "UK"
        d.text(
            (band / 2, h * 0.72),
            code,
            font=_font(FONTS[0], int(h * 0.22)),
            fill=(255, 255, 255),
            anchor="mm",
        )
        for k in range(12):  # the ring of stars, as dots
            a = 2 * np.pi * k / 12
            cx, cy = band / 2 + 0.25 * band * np.cos(a), h * 0.3 + 0.25 * band * np.sin(a)
            d.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=(250, 220, 0))
        x0 = band + 8
    if spec.style == "br_mercosur" or spec.style == "br_moto":
        hh = int(h * (0.2 if not two_line else 0.16))
        d.rectangle([3, 3, w - 4, hh], fill=(30, 60, 170))
        d.text(
            (w / 2, hh / 2 + 2),
            "BRASIL",
            font=_font(FONTS[0], int(hh * 0.7)),
            fill=(255, 255, 255),
            anchor="mm",
        )
        top = hh + 4
    if spec.style == "br_old":
        d.text(
            (w / 2, h * 0.14),
            rng.choice(BR_CITIES),
            font=_font(FONTS[1], int(h * 0.15)),
            fill=fg,
            anchor="mm",
        )
        top = int(h * 0.26)
    if spec.style.startswith("us_"):
        k = int(spec.style[3:])
        d.text(
            (w / 2, h * 0.13),
            US_STATES[k],
            font=_font(FONTS[0], int(h * 0.17)),
            fill=(150, 30, 30),
            anchor="mm",
        )
        d.text(
            (w / 2, h * 0.9),
            US_SLOGANS[k],
            font=_font(FONTS[3], int(h * 0.12)),
            fill=(30, 30, 120),
            anchor="mm",
        )
        top, bottom = int(h * 0.24), int(h * 0.8)
        if rng.random() < 0.4:  # registration sticker in a corner
            d.rectangle([w - 60, 10, w - 20, 32], fill=rng.choice([(40, 160, 40), (200, 60, 60)]))
    for sx in (w * 0.25, w * 0.75):  # screws
        d.ellipse([sx - 5, top - 1, sx + 5, top + 9], fill=(150, 150, 150))
    rows = spec.shown.split("\n")
    avail_h = (bottom - top) / len(rows)
    for i, row in enumerate(rows):
        size = int(avail_h * 0.95)
        font = _font(font_name, size)
        while d.textlength(row, font=font) > (w - x0 - 12) and size > 10:
            size -= 2
            font = _font(font_name, size)
        cx = (x0 + w - 8) / 2
        d.text((cx, top + avail_h * (i + 0.5)), row, font=font, fill=fg, anchor="mm")
    return np.array(img)[:, :, ::-1].copy()


def _scene(rng: random.Random, size: tuple[int, int]) -> np.ndarray:
    import cv2

    w, h = size
    nrng = np.random.default_rng(rng.randrange(1 << 30))
    base = np.linspace(rng.randint(40, 120), rng.randint(120, 220), h, dtype=np.float32)[
        :, None, None
    ]
    img = np.repeat(np.repeat(base, w, 1), 3, 2) + nrng.normal(0, 8, (h, w, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    for _ in range(rng.randint(4, 10)):  # clutter: boxes and lines, some with text
        x, y = rng.randrange(w), rng.randrange(h)
        col = tuple(int(c) for c in nrng.integers(0, 255, 3))
        cv2.rectangle(img, (x, y), (x + rng.randint(30, 300), y + rng.randint(20, 200)), col, -1)
    if rng.random() < 0.5:
        cv2.putText(
            img,
            "".join(rng.choice(LETTERS) for _ in range(5)),
            (rng.randrange(w // 2), rng.randrange(40, h)),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.2,
            (240, 240, 240),
            2,
        )
    return img


def render_sample(
    rng: random.Random, region: str, size: tuple[int, int] = (1280, 720)
) -> tuple[np.ndarray, tuple[int, int, int, int], PlateSpec]:
    """A scene with one plate of ``region``: image, plate box (x, y, w, h), the plate."""
    import cv2

    spec = plate_spec(rng, region)
    plate = draw_plate(spec, rng)
    ph, pw = plate.shape[:2]
    scene = _scene(rng, size)
    W, H = size
    # vehicle body behind the plate
    target_w = rng.uniform(0.09, 0.22) * W * (0.6 if "\n" in spec.shown else 1.0)
    scale = target_w / pw
    src = np.array([[0, 0], [pw, 0], [pw, ph], [0, ph]], dtype=np.float32)
    jit = lambda s: rng.uniform(-s, s)  # noqa: E731
    skew = rng.uniform(-0.12, 0.12)
    dst = (
        np.array(
            [
                [0 + jit(0.03 * pw), 0 + skew * pw + jit(0.04 * ph)],
                [pw + jit(0.03 * pw), 0 - skew * pw + jit(0.04 * ph)],
                [pw + jit(0.03 * pw), ph - skew * pw + jit(0.04 * ph)],
                [0 + jit(0.03 * pw), ph + skew * pw + jit(0.04 * ph)],
            ],
            dtype=np.float32,
        )
        * scale
    )
    dst -= dst.min(0)
    bw, bh = int(dst[:, 0].max()) + 1, int(dst[:, 1].max()) + 1
    ox, oy = rng.randint(20, W - bw - 20), rng.randint(int(0.3 * H), H - bh - 20)
    car = (ox - int(bw * rng.uniform(0.8, 1.6)), oy - int(bh * rng.uniform(2, 4)))
    cv2.rectangle(
        scene,
        car,
        (ox + bw + int(bw * rng.uniform(0.8, 1.6)), oy + bh + int(bh * 0.8)),
        tuple(int(c) for c in np.random.default_rng(rng.randrange(1000)).integers(20, 230, 3)),
        -1,
    )
    M = cv2.getPerspectiveTransform(src, dst.astype(np.float32))
    warped = cv2.warpPerspective(plate, M, (bw, bh), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full((ph, pw), 255, np.uint8), M, (bw, bh))
    roi = scene[oy : oy + bh, ox : ox + bw]
    roi[mask > 127] = warped[mask > 127]
    # degradations: blur, brightness, noise, JPEG
    if rng.random() < 0.6:
        k = rng.choice([3, 5])
        scene = cv2.GaussianBlur(scene, (k, k), rng.uniform(0.5, 1.5))
    if rng.random() < 0.3:  # motion blur
        k = rng.choice([5, 7])
        kern = np.zeros((k, k), np.float32)
        kern[k // 2] = 1.0 / k
        scene = cv2.filter2D(scene, -1, kern)
    gain = rng.uniform(0.6, 1.2)
    noise = np.random.default_rng(rng.randrange(1 << 30)).normal(0, rng.uniform(2, 10), scene.shape)
    scene = np.clip(scene.astype(np.float32) * gain + noise, 0, 255).astype(np.uint8)
    _ok, buf = cv2.imencode(".jpg", scene, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(55, 92)])
    scene = np.asarray(cv2.imdecode(buf, cv2.IMREAD_COLOR))
    xs, ys = dst[:, 0] + ox, dst[:, 1] + oy
    box = (int(xs.min()), int(ys.min()), int(xs.max() - xs.min()), int(ys.max() - ys.min()))
    return scene, box, spec


def generate(
    out_dir: Path,
    per_region: int = 50,
    *,
    seed: int = 1,
    regions: tuple[str, ...] = REGIONS,
) -> int:
    """Write ``per_region`` labelled images per region under ``out_dir/<region>/``; returns the count."""
    import cv2

    count = 0
    for region in regions:
        folder = out_dir / region
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_region):
            rng = random.Random(f"platestream-synth:{seed}:{region}:{i}")
            img, (x, y, w, h), spec = render_sample(rng, region)
            name = f"{region}{i:04d}"
            cv2.imwrite(str(folder / f"{name}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 95])
            (folder / f"{name}.txt").write_text(
                f"{name}.jpg\t{x}\t{y}\t{w}\t{h}\t{spec.text}\n", encoding="utf-8"
            )
            count += 1
    return count
