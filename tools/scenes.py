"""Street scenes made here: a rendered plate on a car, seen by a roadside camera.

They let the demo and the benchmarks run on a fresh clone, which has none of the real photos. The
look follows the fixed-site photos the reader is trained on: a grey road with lane marks and a verge,
one car facing the camera, its plate about 80-150 pixels wide in a 1280x720 frame.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

from tools.train.plates import random_text, render


def _background(rng: random.Random, w: int, h: int) -> np.ndarray:
    gen = np.random.default_rng(rng.getrandbits(32))
    road = np.full((h, w, 3), rng.randint(105, 150), np.float32)
    road += gen.normal(0, 9, (h, w, 1))
    horizon = rng.randint(h // 10, h // 4)
    road[:horizon] = np.array([60, 110, 70], np.float32) + gen.normal(
        0, 12, (horizon, w, 3)
    )  # verge
    for y in (int(h * 0.45), int(h * 0.8)):  # lane marks
        for x in range(rng.randint(-100, 0), w, 220):
            cv2.line(road, (x, y), (x + 110, y - 8), (200, 200, 195), 4)
    return cv2.GaussianBlur(road, (5, 5), 0)


def _car(
    frame: np.ndarray, rng: random.Random, x: int, y: int, cw: int, ch: int
) -> tuple[int, int]:
    """Draw a car seen from the front or rear; returns where the plate's centre goes."""
    body = np.array([rng.randint(20, 235) for _ in range(3)], np.float32)
    shade = np.linspace(1.15, 0.75, ch, dtype=np.float32)[:, None, None]
    cv2.ellipse(
        frame, (x + cw // 2, y + ch), (int(cw * 0.6), ch // 10), 0, 0, 360, (40, 40, 40), -1
    )
    region = frame[y : y + ch, x : x + cw]
    region[:] = np.clip(body * shade, 0, 255)
    glass_h = int(ch * rng.uniform(0.25, 0.35))
    cv2.rectangle(
        frame,
        (x + cw // 10, y + ch // 12),
        (x + 9 * cw // 10, y + ch // 12 + glass_h),
        (45, 50, 55),
        -1,
    )
    light_y = y + int(ch * 0.5)
    for lx in (x + cw // 12, x + 11 * cw // 12 - cw // 8):
        cv2.rectangle(
            frame,
            (lx, light_y),
            (lx + cw // 8, light_y + ch // 12),
            (40, 40, 200) if rng.random() < 0.5 else (220, 220, 210),
            -1,
        )
    bumper_y = y + int(ch * 0.72)
    cv2.rectangle(frame, (x, bumper_y), (x + cw, y + ch), tuple(float(v) for v in body * 0.5), -1)
    for wx in (x + cw // 8, x + 7 * cw // 8):
        cv2.ellipse(frame, (wx, y + ch), (cw // 10, ch // 7), 0, 0, 360, (25, 25, 25), -1)
    return x + cw // 2, bumper_y + int(ch * 0.06)


def make_scene(
    rng: random.Random, text: str | None = None, size: tuple[int, int] = (1280, 720)
) -> tuple[np.ndarray, str, tuple[int, int, int, int]]:
    """(BGR frame, plate text, plate box x,y,w,h) for one passing car."""
    w, h = size
    frame = _background(rng, w, h)
    plate, text = render(rng, text)
    pw = int(w * rng.uniform(0.065, 0.11))
    ph = pw // 2
    cw, ch = int(pw * rng.uniform(3.8, 4.6)), int(pw * rng.uniform(2.4, 2.9))
    cx, cy = rng.randint(0, w - cw), rng.randint(h // 6, h - ch - ch // 6)
    px, py = _car(frame, rng, cx, cy, cw, ch)
    # a slight perspective, as a camera beside the lane sees it
    skew = rng.uniform(-0.08, 0.08) * ph
    pl_h, pl_w = plate.shape[:2]
    src = np.array([[0, 0], [pl_w, 0], [pl_w, pl_h], [0, pl_h]], np.float32)
    dst = np.array([[0, skew], [pw, -skew], [pw, ph - skew], [0, ph + skew]], np.float32)
    dst += np.array([px - pw / 2, py], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(plate.astype(np.float32), m, (w, h), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(
        np.ones(plate.shape[:2], np.float32), m, (w, h), flags=cv2.INTER_AREA
    )[..., None]
    frame = frame * (1 - mask) + warped * mask
    gen = np.random.default_rng(rng.getrandbits(32))
    frame = cv2.GaussianBlur(frame, (3, 3), rng.uniform(0.3, 1.0)) + gen.normal(0, 3, frame.shape)
    box = (int(px - pw / 2), int(py - abs(skew)), pw, int(ph + 2 * abs(skew)))
    return np.clip(frame, 0, 255).astype(np.uint8), text, box


def plate_texts(rng: random.Random, n: int) -> list[str]:
    return [random_text(rng) for _ in range(n)]
