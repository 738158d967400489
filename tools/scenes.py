"""Street scenes made here: a rendered plate on a car at a roadside camera's distance.

They let the demo and the benchmarks run on a fresh clone, which has none of the real photos.
"""

from __future__ import annotations

import random

import cv2
import numpy as np

from tools.train.plates import random_text, render


def make_scene(
    rng: random.Random, text: str | None = None, size: tuple[int, int] = (1280, 720)
) -> tuple[np.ndarray, str, tuple[int, int, int, int]]:
    """(BGR frame, plate text, plate box x,y,w,h) for one passing car."""
    w, h = size
    ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    sky, road = np.array([150, 160, 150], np.float32), np.array([120, 125, 128], np.float32)
    frame = (sky * (1 - ramp) + road * ramp) * np.ones((h, w, 3), np.float32)
    noise = np.random.default_rng(rng.getrandbits(32)).normal(0, 6, (h, w, 3))
    frame = (frame + noise).clip(0, 255).astype(np.uint8)
    plate, text = render(rng, text)
    pw = rng.randint(w // 12, w // 7)
    ph = pw // 2
    cw, ch = int(pw * rng.uniform(3.5, 4.5)), int(pw * rng.uniform(2.2, 3.0))
    cx, cy = rng.randint(0, w - cw), rng.randint(h // 4, h - ch)
    body = tuple(rng.randint(20, 230) for _ in range(3))
    cv2.rectangle(frame, (cx, cy), (cx + cw, cy + ch), body, -1)
    cv2.rectangle(
        frame, (cx + cw // 8, cy + ch // 10), (cx + 7 * cw // 8, cy + ch // 2), (40, 45, 50), -1
    )
    cv2.rectangle(frame, (cx, cy + 3 * ch // 4), (cx + cw, cy + ch), (30, 30, 30), -1)
    px, py = cx + (cw - pw) // 2, cy + ch // 2 + rng.randint(0, ch // 8)
    frame[py : py + ph, px : px + pw] = cv2.resize(plate, (pw, ph), interpolation=cv2.INTER_AREA)
    frame = cv2.GaussianBlur(frame, (3, 3), 0)
    return frame, text, (px, py, pw, ph)


def plate_texts(rng: random.Random, n: int) -> list[str]:
    return [random_text(rng) for _ in range(n)]
