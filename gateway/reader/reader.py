"""The plate reader: localise plates in a photo, then read each one with the OCR."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gateway.reader import localiser as loc
from gateway.reader import ocr
from gateway.reader import state as st
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
    state_model: Path | None = st.DEFAULT_MODEL  # None: no state is guessed
    num_threads: int = 1
    max_candidates: int = 4  # localiser boxes that go to the OCR
    # Reads below this are not reported; every reported read is matched against the hot lists,
    # so this is also the confidence at which the gateway alerts.
    min_confidence: float = 0.05
    # A read that does not look like a plate is not reported: shorter than min_chars (unless
    # at least short_read_confidence: some vanity plates are that short) or longer than any plate.
    min_chars: int = 4
    short_read_confidence: float = 0.9
    max_chars: int = ocr.MAX_CHARS
    # Each box is read with these margins (x, y: fractions of its size added on each side), and the
    # most confident read kept: a localiser box that clips or pads the plate still reads.
    crop_margins: tuple[tuple[float, float], ...] = ((0.06, 0.12),)


@dataclass(frozen=True)
class PlateRead:
    text: str
    confidence: float
    box: tuple[int, int, int, int]
    alternates: list[tuple[str, float]] = field(default_factory=list)
    state: str | None = None  # two-letter state of issuance, None when unsure
    state_confidence: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "box": list(self.box),
            "alternates": [[t, round(c, 4)] for t, c in self.alternates],
            "state": self.state,
            "state_confidence": round(self.state_confidence, 4),
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
        path = self.config.state_model
        self.states = st.StateModel(path) if path is not None else None

    def read_crop(self, crop: np.ndarray) -> ocr.TextRead:
        """The OCR's raw read of one plate crop (the whole image is the plate), unfiltered."""
        if crop.ndim not in (2, 3) or crop.size == 0:
            raise ImageError("empty image")
        check_size(crop.shape[1], crop.shape[0])
        return self.ocr.read(crop)

    def read_crop_plates(self, crop: np.ndarray) -> list[PlateRead]:
        """One plate crop read as a photo's plates are (filter, state), without the localiser."""
        text = self.read_crop(crop)
        if not self.looks_like_plate(text):
            return []
        return [self.plate_read(text, (0, 0, crop.shape[1], crop.shape[0]), crop)]

    def looks_like_plate(self, text: ocr.TextRead) -> bool:
        """Junk reads of non-plate boxes are short and unsure; they are not reported."""
        c = self.config
        if text.confidence < c.min_confidence or not 0 < len(text.text) <= c.max_chars:
            return False
        return len(text.text) >= c.min_chars or text.confidence >= c.short_read_confidence

    def plate_read(
        self, text: ocr.TextRead, box: tuple[int, int, int, int], crop: np.ndarray
    ) -> PlateRead:
        guess = self.states.guess(crop, text.text) if self.states is not None else None
        return PlateRead(
            text.text,
            text.confidence,
            box,
            text.alternates,
            guess.state if guess else None,
            guess.confidence if guess else 0.0,
        )

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
        best: dict[str, tuple[ocr.TextRead, tuple[int, int, int, int], np.ndarray]] = {}
        for box in boxes:
            found = self.read_box(image, box)
            if found is None or not self.looks_like_plate(found[0]):
                continue
            text = found[0]
            if text.text not in best or best[text.text][0].confidence < text.confidence:
                best[text.text] = (text, box, found[1])
        reads = [self.plate_read(t, box, crop) for t, box, crop in best.values()]
        # Best first by confidence, but a short read (a sure fragment: a sticker, one character of
        # a slogan, half a plate) never outranks a read of plate length.
        short = self.config.min_chars
        return sorted(reads, key=lambda r: (len(r.text) < short, -r.confidence)), boxes

    def read_box(
        self, image: np.ndarray, box: tuple[int, int, int, int]
    ) -> tuple[ocr.TextRead, np.ndarray] | None:
        """The most confident read of the box over the configured crop margins, and its crop."""
        best: tuple[ocr.TextRead, np.ndarray] | None = None
        for mx, my in self.config.crop_margins:
            x, y, w, h = expand(box, image.shape, mx, my)
            if w < 4 or h < 4:
                continue
            crop = image[y : y + h, x : x + w]
            text = self.ocr.read(crop)
            if best is None or text.confidence > best[0].confidence:
                best = (text, crop)
        return best
