"""The plate reader: localise plates in a photo, then read each one with the OCR."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gateway.reader import localiser as loc
from gateway.reader import ocr
from gateway.reader.images import ImageError, check_size


@dataclass(frozen=True)
class ReaderHints:
    """Per-camera hints from the site survey; both optional."""

    roi: tuple[int, int, int, int] | None = None  # x, y, w, h where plates pass
    plate_width: int | None = None  # expected plate width in pixels


@dataclass(frozen=True)
class ReaderConfig:
    ocr_model: Path = ocr.DEFAULT_MODEL
    localiser_model: Path = loc.DEFAULT_MODEL
    num_threads: int = 1
    max_candidates: int = 4  # localiser boxes that go to the OCR
    min_confidence: float = 0.05  # reads below this are not reported
    min_chars: int = 2
    # Each box is read with these margins (x, y: fractions of its size added on each side), and the
    # most confident read kept: a localiser box that clips or pads the plate still reads.
    crop_margins: tuple[tuple[float, float], ...] = ((0.06, 0.12),)


@dataclass(frozen=True)
class PlateRead:
    text: str
    confidence: float
    box: tuple[int, int, int, int]
    alternates: list[tuple[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "box": list(self.box),
            "alternates": [[t, round(c, 4)] for t, c in self.alternates],
        }


def expand(
    box: tuple[int, int, int, int], shape: tuple[int, ...], mx: float, my: float
) -> tuple[int, int, int, int]:
    """The box grown by a fraction of its size on each side, clipped to the image."""
    x, y, w, h = box
    x0, y0 = max(0, int(x - mx * w)), max(0, int(y - my * h))
    x1, y1 = min(shape[1], int(x + w + mx * w)), min(shape[0], int(y + h + my * h))
    return x0, y0, x1 - x0, y1 - y0


def looks_like_plate_crop(image: np.ndarray) -> bool:
    """A small image of plate proportions is taken to be a plate crop itself."""
    h, w = image.shape[:2]
    return w <= 640 and 1.2 <= w / h <= 3.2


class PlateReader:
    """Photo in, plate reads out (best first). One instance per thread."""

    def __init__(self, config: ReaderConfig | None = None) -> None:
        self.config = config or ReaderConfig()
        self.localiser = loc.PlateLocaliser(
            self.config.localiser_model, self.config.num_threads, self.config.max_candidates
        )
        self.ocr = ocr.PlateOCR(self.config.ocr_model, self.config.num_threads)

    def read_crop(self, crop: np.ndarray) -> ocr.TextRead:
        """Read one plate crop (the whole image is the plate)."""
        if crop.ndim not in (2, 3) or crop.size == 0:
            raise ImageError("empty image")
        check_size(crop.shape[1], crop.shape[0])
        return self.ocr.read(crop)

    def read(self, image: np.ndarray, hints: ReaderHints | None = None) -> list[PlateRead]:
        """All plates read in a BGR photo, best first; reads below min_confidence are dropped."""
        return self.read_detailed(image, hints)[0]

    def read_detailed(
        self, image: np.ndarray, hints: ReaderHints | None = None
    ) -> tuple[list[PlateRead], list[tuple[int, int, int, int]]]:
        """The reads, and every box the localiser proposed (for detection metrics)."""
        if image.ndim not in (2, 3) or image.size == 0:
            raise ImageError("empty image")
        check_size(image.shape[1], image.shape[0])
        hints = hints or ReaderHints()
        boxes = [c.box for c in self.localiser.find(image, hints.roi, hints.plate_width)]
        if not boxes and hints.roi is None and looks_like_plate_crop(image):
            boxes = [(0, 0, image.shape[1], image.shape[0])]
        best: dict[str, PlateRead] = {}
        for box in boxes:
            text = self.read_box(image, box)
            if text is None or (
                len(text.text) < self.config.min_chars
                or text.confidence < self.config.min_confidence
            ):
                continue
            if text.text not in best or best[text.text].confidence < text.confidence:
                best[text.text] = PlateRead(text.text, text.confidence, box, text.alternates)
        return sorted(best.values(), key=lambda r: -r.confidence), boxes

    def read_box(self, image: np.ndarray, box: tuple[int, int, int, int]) -> ocr.TextRead | None:
        """The most confident read of the box over the configured crop margins."""
        best: ocr.TextRead | None = None
        for mx, my in self.config.crop_margins:
            x, y, w, h = expand(box, image.shape, mx, my)
            if w < 4 or h < 4:
                continue
            text = self.ocr.read(image[y : y + h, x : x + w])
            if best is None or text.confidence > best.confidence:
                best = text
        return best
