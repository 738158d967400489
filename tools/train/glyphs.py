"""Find the characters of a real plate crop, so that new plates can be composed from real parts.

A labelled crop tells how many characters it holds and in which order. Thresholding plus connected
components finds candidate blobs; the row of blobs of one height whose count equals the label's length
is taken as the characters. Crops where that fails are simply not used for composition.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

import cv2
import numpy as np

HEIGHT = 160  # crops are normalised to this height before segmentation


@dataclass
class Segmented:
    image: np.ndarray  # BGR, HEIGHT pixels high
    text: str
    boxes: list[tuple[int, int, int, int]]  # x, y, w, h per character, left to right
    masks: list[np.ndarray]  # uint8 0/255 per character, the size of its box
    dark_text: bool


def _components(binary: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    n, _, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    h, w = binary.shape
    out = []
    for i in range(1, n):
        x, y, bw, bh, area = (int(v) for v in stats[i])
        if not (0.22 * h <= bh <= 0.85 * h) or bw > 0.3 * w or bw < 2:
            continue
        if area < 0.12 * bw * bh:
            continue
        out.append((x, y, bw, bh, i))
    return out


def _best_row(
    comps: list[tuple[int, int, int, int, int]], n: int
) -> list[tuple[int, int, int, int, int]] | None:
    """The n blobs of most similar height and vertical centre, if they exist."""
    best: list[tuple[int, int, int, int, int]] | None = None
    best_spread = 1e9
    for ref in comps:
        rh, rc = ref[3], ref[1] + ref[3] / 2
        row = [
            c
            for c in comps
            if abs(c[3] - rh) <= 0.18 * rh and abs(c[1] + c[3] / 2 - rc) <= 0.2 * rh
        ]
        if len(row) != n:
            continue
        hs = np.array([c[3] for c in row], float)
        spread = float(hs.std() / hs.mean())
        if spread < best_spread:
            best, best_spread = row, spread
    return best


def segment(image: np.ndarray, text: str) -> Segmented | None:
    """Character boxes and masks of a labelled plate crop, or None when they cannot be found."""
    scale = HEIGHT / image.shape[0]
    img = cv2.resize(
        image, (max(8, round(image.shape[1] * scale)), HEIGHT), interpolation=cv2.INTER_AREA
    )
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    n = len(text)
    for dark in (True, False):
        src = grey if dark else 255 - grey
        for block, c in ((41, 12), (61, 8), (25, 15), (81, 5)):
            binary = cv2.adaptiveThreshold(
                src, 255, cv2.ADAPTIVE_THRESH_GAUSSIAN_C, cv2.THRESH_BINARY_INV, block, c
            )
            _, labels, _, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
            row = _best_row(_components(binary), n)
            if row is None:
                continue
            row.sort(key=lambda c: c[0])
            # characters must not overlap horizontally much
            if any(a[0] + a[2] > b[0] + 0.3 * b[2] for a, b in pairwise(row)):
                continue
            boxes = [(x, y, w, h) for x, y, w, h, _ in row]
            masks = [
                ((labels[y : y + h, x : x + w] == i) * 255).astype(np.uint8)
                for x, y, w, h, i in row
            ]
            return Segmented(img, text, boxes, masks, dark)
    return None
