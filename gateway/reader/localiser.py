"""Find licence plates in a camera photo with a small int8 heat-map (CenterNet-style) network.

The network sees one letterboxed grey image of fixed size and answers, at stride 4, a plate-centre
heat map, the plate size (log2 of width and height in network pixels) and a sub-cell centre
offset. Decoding is a 3x3 local-maximum search in numpy, so the whole step stays a few
milliseconds on one core.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gateway.reader.runtime import TFLiteModel

DEFAULT_MODEL = Path(__file__).parent / "models" / "localiser.tflite"

STRIDE = 4  # output cell size in network pixels
SIZE_LOG2_RANGE = 8.0  # size channels hold log2(pixels) / 8, so 1..256 px maps to 0..1
OFFSET_RANGE = 4.0  # offset channels hold d / 4 + 0.5, d the centre offset in cells
TARGET_PLATE_PX = 32.0  # the plate width (network pixels) seen most in training
PAD_VALUE = 0  # letterbox fill, the same in training


@dataclass(frozen=True)
class Candidate:
    box: tuple[int, int, int, int]  # x, y, w, h in full-image pixels
    score: float


def encode_size(px: np.ndarray | float) -> np.ndarray | float:
    """Plate size in network pixels to the value the network is trained to answer."""
    return np.log2(np.maximum(px, 1.0)) / SIZE_LOG2_RANGE


def decode_size(v: np.ndarray) -> np.ndarray:
    """The network's size answer back to network pixels."""
    return np.asarray(2.0 ** (np.clip(v, 0.0, 1.2) * SIZE_LOG2_RANGE))


def to_grey(image: np.ndarray) -> np.ndarray:
    """Grey uint8 from grey, BGR or BGRA input, so any camera's frames work."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return image


def letterbox(grey: np.ndarray, scale: float, size: tuple[int, int]) -> np.ndarray:
    """Resize by scale into the top-left of a padded (width, height) canvas."""
    w, h = size
    nw = max(1, min(w, round(grey.shape[1] * scale)))
    nh = max(1, min(h, round(grey.shape[0] * scale)))
    interp = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    small = cv2.resize(grey, (nw, nh), interpolation=interp)
    canvas = np.full((h, w), PAD_VALUE, np.uint8)
    canvas[:nh, :nw] = small
    return canvas


def decode(
    out: np.ndarray, max_candidates: int, min_score: float
) -> list[tuple[float, float, float, float, float]]:
    """Heat-map peaks (3x3 local maxima) to (cx, cy, w, h, score) in network pixels, best first."""
    heat = out[:, :, 0]
    padded = np.pad(heat, 1, constant_values=-1.0)
    hh, ww = heat.shape
    local_max = np.max(
        np.stack([padded[dy : dy + hh, dx : dx + ww] for dy in range(3) for dx in range(3)]),
        axis=0,
    )
    ys, xs = np.nonzero((heat >= local_max) & (heat >= min_score))
    if len(ys) == 0:
        return []
    scores = heat[ys, xs]
    order = np.argsort(-scores, kind="stable")[: max_candidates * 4]
    found: list[tuple[float, float, float, float, float]] = []
    for i in order:
        y, x = int(ys[i]), int(xs[i])
        w, h = decode_size(out[y, x, 1:3])
        dx = (float(out[y, x, 3]) - 0.5) * OFFSET_RANGE
        dy = (float(out[y, x, 4]) - 0.5) * OFFSET_RANGE
        cx = (x + 0.5 + dx) * STRIDE
        cy = (y + 0.5 + dy) * STRIDE
        cand = (cx, cy, float(w), float(h), float(scores[i]))
        if all(_iou(cand, f) < 0.5 for f in found):  # quantized plateaus give twin peaks
            found.append(cand)
        if len(found) >= max_candidates:
            break
    return found


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ax0, ay0, ax1, ay1 = a[0] - a[2] / 2, a[1] - a[3] / 2, a[0] + a[2] / 2, a[1] + a[3] / 2
    bx0, by0, bx1, by1 = b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2
    iw = max(0.0, min(ax1, bx1) - max(ax0, bx0))
    ih = max(0.0, min(ay1, by1) - max(ay0, by0))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


class PlateLocaliser:
    """Plate candidates in a photo, best first; a fixed-size int8 network on one core."""

    def __init__(
        self,
        model_path: str | Path = DEFAULT_MODEL,
        num_threads: int = 1,
        max_candidates: int = 5,
        min_score: float = 0.15,
    ) -> None:
        self.model = TFLiteModel(model_path, num_threads=num_threads)
        _, h, w, _ = self.model.input_shape
        self.input_size = (int(w), int(h))
        self.max_candidates = max_candidates
        self.min_score = min_score

    def scale_for(self, width: int, height: int, plate_width: int | None) -> float:
        """The downscale: the trained plate size when the plate width is known, else fit."""
        fit = min(self.input_size[0] / width, self.input_size[1] / height)
        if plate_width is None or plate_width <= 0:
            return min(fit, 1.5)  # a tiny photo is not blown up past what training saw
        return min(fit, TARGET_PLATE_PX / plate_width)

    def find(
        self,
        image_bgr: np.ndarray,
        roi: tuple[int, int, int, int] | None = None,
        plate_width: int | None = None,
    ) -> list[Candidate]:
        """Plate boxes in full-image pixels, best first; roi (x, y, w, h) limits the search."""
        image = np.asarray(image_bgr)
        if (
            image.ndim not in (2, 3)
            or image.shape[0] < 2
            or image.shape[1] < 2
            or (image.ndim == 3 and image.shape[2] not in (1, 3, 4))
        ):
            raise ValueError(
                f"find() needs a grey or colour image of at least 2x2, got {image.shape}"
            )
        ih, iw = image.shape[:2]
        x0, y0, rw, rh = 0, 0, iw, ih
        if roi is not None:
            rx, ry, rw_, rh_ = (int(v) for v in roi)
            x0, y0 = max(0, rx), max(0, ry)
            x1, y1 = min(iw, rx + rw_), min(ih, ry + rh_)
            if x1 - x0 < 2 or y1 - y0 < 2:
                raise ValueError(f"roi {roi} leaves less than 2x2 pixels of a {iw}x{ih} image")
            rw, rh = x1 - x0, y1 - y0
            image = image[y0:y1, x0:x1]
        grey = to_grey(image)
        scale = self.scale_for(rw, rh, plate_width)
        canvas = letterbox(grey, scale, self.input_size)
        out = self.model.run_pixels(canvas)[0]
        found = []
        for cx, cy, w, h, score in decode(out, self.max_candidates, self.min_score):
            bx0 = max(0.0, (cx - w / 2) / scale)
            by0 = max(0.0, (cy - h / 2) / scale)
            bx1 = min(float(rw), (cx + w / 2) / scale)
            by1 = min(float(rh), (cy + h / 2) / scale)
            if bx1 - bx0 < 1 or by1 - by0 < 1:
                continue
            box = (
                x0 + round(bx0),
                y0 + round(by0),
                max(1, round(bx1 - bx0)),
                max(1, round(by1 - by0)),
            )
            found.append(Candidate(box, score))
        return found
