"""Plate OCR: a small all-convolutional network over a grey plate crop, decoded with CTC.

The network maps a 64x128 grey crop to 32 columns, each a probability over blank + A-Z + 0-9.
Columns are slots of fixed width; CTC decoding merges repeats and drops blanks, so the plate's
length needs no slot alignment. Alternates come from the runner-up character of each decoded slot.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gateway.reader.runtime import TFLiteModel

INPUT_H, INPUT_W = 64, 128
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
BLANK = 0  # class 0 is the CTC blank; class i + 1 is ALPHABET[i]
MAX_CHARS = 10  # the longest US plates (vanity, some specialty plates)
DEFAULT_MODEL = Path(__file__).parent / "models" / "ocr.tflite"


@dataclass(frozen=True)
class TextRead:
    text: str
    confidence: float
    alternates: list[tuple[str, float]]


def preprocess(crop_bgr: np.ndarray) -> np.ndarray:
    """BGR or grey crop -> INPUT_H x INPUT_W grey uint8, as the network was trained on."""
    grey = crop_bgr if crop_bgr.ndim == 2 else cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY)
    interp = cv2.INTER_AREA if grey.shape[0] > INPUT_H else cv2.INTER_LINEAR
    return cv2.resize(grey, (INPUT_W, INPUT_H), interpolation=interp)


def decode(probs: np.ndarray, n_alternates: int = 3) -> TextRead:
    """Greedy CTC decoding of a (columns, classes) probability array, with one-slot alternates."""
    best = probs.argmax(axis=1)
    slots: list[tuple[int, float, int, float]] = []  # class, prob, runner-up class, its prob
    prev = BLANK
    for t, cls in enumerate(best):
        cls = int(cls)
        if cls != BLANK and cls != prev:
            slots.append((cls, 0.0, BLANK, 0.0))
        if cls != BLANK and slots:
            p = float(probs[t, cls])
            if p > slots[-1][1]:
                row = probs[t].copy()
                row[[BLANK, cls]] = -1
                alt = int(row.argmax())
                slots[-1] = (cls, p, alt, float(probs[t, alt]))
        prev = cls
    text = "".join(ALPHABET[c - 1] for c, _, _, _ in slots)
    confidence = float(np.prod([p for _, p, _, _ in slots])) if slots else 0.0
    alternates: list[tuple[str, float]] = []
    for i, (_, p, alt, pa) in enumerate(slots):
        if pa <= 0 or p <= 0:
            continue
        alt_text = text[:i] + ALPHABET[alt - 1] + text[i + 1 :]
        alternates.append((alt_text, confidence * pa / p))
    alternates.sort(key=lambda a: -a[1])
    return TextRead(text, confidence, [(t, round(c, 4)) for t, c in alternates[:n_alternates]])


class PlateOCR:
    """Reads the text of one plate crop."""

    def __init__(self, model_path: str | Path = DEFAULT_MODEL, num_threads: int = 1) -> None:
        self.model = TFLiteModel(model_path, num_threads)

    def probabilities(self, crop_bgr: np.ndarray) -> np.ndarray:
        return self.model.run_pixels(preprocess(crop_bgr))[0].reshape(-1, len(ALPHABET) + 1)

    def read(self, crop_bgr: np.ndarray) -> TextRead:
        return decode(self.probabilities(crop_bgr))
