"""Training plates for the OCR: real crops, real plates with new text, and rendered plates.

447 real crops are far too few to train an OCR from. Two generators stretch them:
- `compose` takes a segmented real crop, inpaints its characters away and writes new text into the
  same slots with real glyphs cut from other crops, in the plate's own ink colour;
- `render` draws a US-style plate from scratch with Debian's fonts.
`augment` then turns any plate into what the reader will see: a loose, tilted, low-resolution,
blurred, noisy, JPEG-compressed grey crop.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gateway.reader.ocr import INPUT_H, INPUT_W
from tools.train.glyphs import Segmented

LETTERS = string.ascii_uppercase
DIGITS = string.digits
FONT_DIR = Path("/usr/share/fonts/truetype")
PLATE_FONTS = [
    "opendin/OSP-DIN.ttf",
    "dejavu/DejaVuSansCondensed-Bold.ttf",
    "dejavu/DejaVuSans-Bold.ttf",
    "dejavu/DejaVuSansMono-Bold.ttf",
    "dejavu/DejaVuSansCondensed.ttf",
]
DECOR_FONTS = [
    "dejavu/DejaVuSerif-Bold.ttf",
    "dejavu/DejaVuSerif-BoldItalic.ttf",
    "dejavu/DejaVuSans.ttf",
    "dejavu/DejaVuSansCondensed-Oblique.ttf",
    "opendin/OSP-DIN.ttf",
]
STATES = [
    "ALABAMA",
    "ALASKA",
    "ARIZONA",
    "ARKANSAS",
    "CALIFORNIA",
    "COLORADO",
    "CONNECTICUT",
    "DELAWARE",
    "FLORIDA",
    "GEORGIA",
    "HAWAII",
    "IDAHO",
    "ILLINOIS",
    "INDIANA",
    "IOWA",
    "KANSAS",
    "KENTUCKY",
    "LOUISIANA",
    "MAINE",
    "MARYLAND",
    "MASSACHUSETTS",
    "MICHIGAN",
    "MINNESOTA",
    "MISSISSIPPI",
    "MISSOURI",
    "MONTANA",
    "NEBRASKA",
    "NEVADA",
    "OHIO",
    "OKLAHOMA",
    "OREGON",
    "PENNSYLVANIA",
    "TEXAS",
    "UTAH",
    "VERMONT",
    "VIRGINIA",
    "WASHINGTON",
    "WISCONSIN",
    "WYOMING",
]
SLOGANS = [
    "Land of Lincoln",
    "Sunshine State",
    "Garden State",
    "Live Free or Die",
    "Great Lakes",
    "Lone Star State",
    "America's Dairyland",
    "Ocean State",
    "Green Mountain State",
    "Famous Potatoes",
    "Grand Canyon State",
    "Show Me State",
    "The Silver State",
    "Constitution State",
    "First State",
    "www.state.gov",
    "Wild Wonderful",
    "Sportsman's Paradise",
    "Big Sky",
    "Peace Garden State",
]


def random_text(rng: random.Random, like: str | None = None) -> str:
    """A plausible US plate string; with `like`, letters and digits stay where they were."""
    if like is not None and rng.random() < 0.7:
        return "".join(rng.choice(LETTERS if c.isalpha() else DIGITS) for c in like)
    n = len(like) if like is not None else rng.choice([4, 5, 5, 6, 6, 6, 7, 7, 7, 8])
    pattern = rng.choice(["LLLDDDD", "DLLLDDD", "DDDLLL", "LLLDDD", "DLLDDD", "LDDLLL", "MIXED"])
    if pattern == "MIXED" or len(pattern) != n:
        return "".join(rng.choice(LETTERS + DIGITS + DIGITS) for _ in range(n))
    return "".join(rng.choice(LETTERS if p == "L" else DIGITS) for p in pattern)


@dataclass
class GlyphBank:
    """Real character masks by character, each remembering the crop it came from."""

    glyphs: dict[str, list[tuple[np.ndarray, int]]] = field(default_factory=dict)
    backgrounds: list[np.ndarray] = field(default_factory=list)  # each crop with its text inpainted
    inks: list[np.ndarray] = field(default_factory=list)

    @classmethod
    def build(cls, plates: list[Segmented]) -> GlyphBank:
        """Index the glyphs, and inpaint each plate once (inpainting is the slow part)."""
        bank = cls()
        for i, seg in enumerate(plates):
            for ch, mask in zip(seg.text, seg.masks, strict=True):
                bank.glyphs.setdefault(ch, []).append((mask, i))
            bank.backgrounds.append(_inpaint(seg))
            bank.inks.append(_ink_colour(seg).astype(np.float32))
        return bank

    def pick(self, ch: str, source: int, rng: random.Random) -> np.ndarray | None:
        options = self.glyphs.get(ch)
        if not options:
            return None
        own = [m for m, s in options if s == source]
        if own and rng.random() < 0.6:
            return rng.choice(own)
        return rng.choice(options)[0]


def _ink_colour(seg: Segmented) -> np.ndarray:
    pixels = [
        seg.image[y : y + h, x : x + w][m > 0]
        for (x, y, w, h), m in zip(seg.boxes, seg.masks, strict=True)
    ]
    return np.median(np.concatenate(pixels), axis=0)


def _inpaint(seg: Segmented) -> np.ndarray:
    hole = np.zeros(seg.image.shape[:2], np.uint8)
    for (x, y, w, h), m in zip(seg.boxes, seg.masks, strict=True):
        hole[y : y + h, x : x + w] |= m
    hole = cv2.dilate(hole, np.ones((7, 7), np.uint8))
    return cv2.inpaint(seg.image, hole, 5, cv2.INPAINT_TELEA)


def compose(
    seg: Segmented, index: int, bank: GlyphBank, rng: random.Random
) -> tuple[np.ndarray, str]:
    """The real plate `seg` (bank entry `index`) with new text built from real glyphs."""
    img = seg.image
    background, ink = bank.backgrounds[index], bank.inks[index]
    text = random_text(rng, like=seg.text)
    alpha = np.zeros(img.shape[:2], np.float32)
    for (x, y, w, h), ch in zip(seg.boxes, text, strict=True):
        glyph = bank.pick(ch, index, rng)
        if glyph is None:
            return img, seg.text
        gh, gw = glyph.shape
        nw = max(2, min(round(gw * h / gh), int(w * 1.8), img.shape[1]))
        g = cv2.resize(glyph, (nw, h), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
        gx = int(np.clip(x + (w - nw) // 2, 0, img.shape[1] - nw))
        alpha[y : y + h, gx : gx + nw] = np.maximum(alpha[y : y + h, gx : gx + nw], g)
    alpha = cv2.GaussianBlur(alpha, (3, 3), 0)[..., None]
    out = background.astype(np.float32) * (1 - alpha) + ink * alpha
    return out.clip(0, 255).astype(np.uint8), text


def _font(name: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_DIR / name), size)


def _random_colour(rng: random.Random, light: bool) -> tuple[int, int, int]:
    lo, hi = (170, 255) if light else (0, 110)
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


def render(rng: random.Random, text: str | None = None) -> tuple[np.ndarray, str]:
    """A US-style plate drawn from nothing: artwork, state name, slogan, stickers, main text."""
    w, h = 320, 160
    dark_plate = rng.random() < 0.12
    top, bottom = _random_colour(rng, not dark_plate), _random_colour(rng, not dark_plate)
    ramp = np.linspace(0, 1, h)[:, None, None]
    bg = (np.array(top) * (1 - ramp) + np.array(bottom) * ramp) * np.ones((h, w, 3))
    img = Image.fromarray(bg.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(rng.randint(0, 4)):  # artwork: hills, suns, swooshes
        c = _random_colour(rng, rng.random() < 0.6)
        x0, y0 = rng.randint(-80, w), rng.randint(-40, h)
        draw.ellipse((x0, y0, x0 + rng.randint(40, 260), y0 + rng.randint(20, 140)), fill=c)
    ink = _random_colour(rng, dark_plate)
    if rng.random() < 0.4:
        ink = rng.choice([(20, 30, 120), (10, 10, 10), (150, 20, 20), (10, 80, 30)])
    state = rng.choice(STATES)
    sf = _font(rng.choice(DECOR_FONTS), rng.randint(18, 32))
    draw.text(
        (w / 2 + rng.randint(-30, 30), rng.randint(4, 18)),
        state.title() if rng.random() < 0.5 else state,
        font=sf,
        fill=_random_colour(rng, dark_plate),
        anchor="mt",
    )
    if rng.random() < 0.8:
        draw.text(
            (w / 2 + rng.randint(-40, 40), h - rng.randint(6, 16)),
            rng.choice(SLOGANS),
            font=_font(rng.choice(DECOR_FONTS), rng.randint(13, 20)),
            fill=_random_colour(rng, dark_plate),
            anchor="mb",
        )
    for _ in range(rng.randint(0, 2)):  # registration stickers
        sx, sy = rng.choice([(8, 8), (w - 50, 8), (8, h - 38), (w - 50, h - 38)])
        draw.rectangle(
            (sx, sy, sx + rng.randint(28, 44), sy + rng.randint(18, 30)),
            fill=_random_colour(rng, rng.random() < 0.5),
        )
    text = text or random_text(rng)
    font = _font(rng.choice(PLATE_FONTS), rng.randint(62, 84))
    sep = rng.choice(["", "", " ", "-", "·"]) if len(text) <= 7 else ""
    cut = rng.randint(2, max(2, len(text) - 2))
    shown = text[:cut] + sep + text[cut:] if sep else text
    box = draw.textbbox((0, 0), shown, font=font)
    tw, th = box[2] - box[0], box[3] - box[1]
    squeeze = min(1.0, (w - 24) / max(tw, 1))
    layer = Image.new("L", (tw + 4, th + 4), 0)
    ImageDraw.Draw(layer).text((2 - box[0], 2 - box[1]), shown, font=font, fill=255)
    if squeeze < 1.0 or rng.random() < 0.3:
        layer = layer.resize((max(8, int((tw + 4) * squeeze * rng.uniform(0.85, 1.0))), th + 4))
    px = (w - layer.width) // 2 + rng.randint(-8, 8)
    py = (h - layer.height) // 2 + rng.randint(-4, 10)
    img.paste(Image.new("RGB", layer.size, ink), (px, py), layer)
    if rng.random() < 0.7:
        draw.rounded_rectangle(
            (2, 2, w - 3, h - 3),
            radius=12,
            outline=_random_colour(rng, False),
            width=rng.randint(1, 5),
        )
    if rng.random() < 0.5:  # bolts
        for bx in (60, w - 60):
            draw.ellipse((bx - 5, 10, bx + 5, 20), fill=(150, 150, 150))
    if (
        rng.random() < 0.15
    ):  # stacked small characters (a vehicle-class mark); labels leave them out
        small = _font(rng.choice(PLATE_FONTS), rng.randint(20, 28))
        sx = rng.choice([max(4, px - 30), min(w - 26, px + layer.width + 6)])
        for k, ch in enumerate(rng.sample(LETTERS, 2)):
            draw.text((sx, h // 2 - 28 + 28 * k), ch, font=small, fill=ink)
    arr = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
    return arr, text


def _warp(img: np.ndarray, rng: random.Random, loose: float) -> np.ndarray:
    """Perspective, tilt and a loose or tight box, as a localiser would cut it from a photo."""
    h, w = img.shape[:2]
    pad = int(0.25 * h)
    src = cv2.copyMakeBorder(
        img, pad, pad, pad, pad, cv2.BORDER_REPLICATE if rng.random() < 0.5 else cv2.BORDER_REFLECT
    )
    corners = np.float32([[pad, pad], [pad + w, pad], [pad + w, pad + h], [pad, pad + h]])
    jitter = np.float32(
        [
            [
                rng.uniform(-loose, loose) * w * 0.5
                if i % 2 == 0
                else rng.uniform(-loose, loose) * h
                for i in range(2)
            ]
            for _ in range(4)
        ]
    )
    dst_w, dst_h = INPUT_W * 2, INPUT_H * 2
    margin_x, margin_y = rng.uniform(-0.03, 0.10), rng.uniform(-0.04, 0.14)
    target = np.float32(
        [
            [dst_w * margin_x, dst_h * margin_y],
            [dst_w * (1 - margin_x), dst_h * margin_y],
            [dst_w * (1 - margin_x), dst_h * (1 - margin_y)],
            [dst_w * margin_x, dst_h * (1 - margin_y)],
        ]
    )
    angle = np.deg2rad(rng.uniform(-6, 6))
    centre = target.mean(axis=0)
    rot = np.float32([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    target = (target - centre) @ rot.T + centre
    m = cv2.getPerspectiveTransform(corners + jitter, target)
    return cv2.warpPerspective(
        src, m, (dst_w, dst_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def augment(img: np.ndarray, rng: random.Random, strength: float = 1.0) -> np.ndarray:
    """A plate image (BGR) as the OCR will see it: INPUT_H x INPUT_W grey uint8."""
    out = _warp(img, rng, 0.06 * strength)
    weights = np.array(
        [rng.uniform(0.05, 0.5), rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.6)], np.float32
    )
    if rng.random() < 0.15:  # infrared night look: the red channel, high contrast
        weights = np.array([0.0, 0.1, 0.9], np.float32)
    grey = (out.astype(np.float32) @ (weights / weights.sum())).clip(0, 255)
    # resolution: plates in roadside photos are often only 20-40 pixels high
    if rng.random() < 0.65 * strength:
        small_h = int(rng.triangular(16, 64, 40))
        small_w = max(8, int(small_h * grey.shape[1] / grey.shape[0]))
        grey = cv2.resize(grey, (small_w, small_h), interpolation=cv2.INTER_AREA)
    if rng.random() < 0.4 * strength:
        k = rng.choice([3, 5])
        if rng.random() < 0.5:
            grey = cv2.GaussianBlur(grey, (k, k), 0)
        else:
            kernel = np.zeros((k, k), np.float32)
            kernel[k // 2, :] = 1.0 / k
            grey = cv2.filter2D(grey, -1, kernel)
    if rng.random() < 0.1 * strength:  # glare: a bright soft blob
        gh, gw = grey.shape
        yy, xx = np.mgrid[0:gh, 0:gw]
        cx, cy, r = rng.uniform(0, gw), rng.uniform(0, gh), rng.uniform(0.2, 0.6) * gw
        grey = grey + rng.uniform(40, 120) * np.exp(
            -((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)
        )
    contrast, bright = rng.uniform(0.6, 1.2), rng.uniform(-35, 35)
    grey = (grey - 128) * contrast + 128 + bright
    if rng.random() < 0.3:
        gamma = rng.uniform(0.6, 1.6)
        grey = 255 * (np.clip(grey, 0, 255) / 255) ** gamma
    grey = grey + np.random.default_rng(rng.getrandbits(32)).normal(
        0, rng.uniform(0, 8) * strength, grey.shape
    )
    grey = grey.clip(0, 255).astype(np.uint8)
    if rng.random() < 0.5 * strength:
        ok, enc = cv2.imencode(".jpg", grey, [cv2.IMWRITE_JPEG_QUALITY, rng.randint(25, 90)])
        if ok:
            grey = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
    return cv2.resize(grey, (INPUT_W, INPUT_H), interpolation=cv2.INTER_AREA)
