"""The training-data generators: rendered plates, real plates with new text, augmentation."""

from __future__ import annotations

import random
import re
from pathlib import Path

import cv2

from gateway.reader.ocr import INPUT_H, INPUT_W
from tools.train.data import load_crops
from tools.train.glyphs import segment
from tools.train.plates import GlyphBank, augment, compose, random_text, render


def test_render_and_augment() -> None:
    rng = random.Random(0)
    for _ in range(20):
        img, text = render(rng)
        assert img.shape == (160, 320, 3) and re.fullmatch(r"[A-Z0-9]{4,8}", text)
        out = augment(img, rng)
        assert out.shape == (INPUT_H, INPUT_W) and out.dtype == "uint8" and out.std() > 3
    assert render(rng, "KXR482")[1] == "KXR482"
    assert len(random_text(random.Random(1), like="AB123")) == 5


def test_compose_keeps_pattern_and_slots(dev_data: Path) -> None:
    crops = load_crops(dev_data)[:60]
    segs = [s for c in crops if (s := segment(cv2.imread(str(c.path)), c.plate)) is not None]
    assert len(segs) >= 45, "most real crops segment into as many characters as their label has"
    assert all(len(s.boxes) == len(s.text) for s in segs)
    bank = GlyphBank.build(segs)
    rng = random.Random(2)
    for i, seg in enumerate(segs[:10]):
        img, text = compose(seg, i, bank, rng)
        assert img.shape == seg.image.shape and len(text) == len(seg.text)
