"""State of issuance from a plate crop and its read: a small linear classifier in numpy.

US plates differ by state in colours, artwork, the state name printed on them and the pattern of
letters and digits. The features are a coarse colour picture of the crop, a grey picture, and the
letter/digit pattern of the read; a multinomial logistic regression (weights in models/state.npz,
trained by `alpr train state`) turns them into a probability per state. A state is named only
when its probability reaches the threshold stored with the weights, chosen by cross-validation
so that the named states are right at least 90 % of the time; otherwise the state is unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

DEFAULT_MODEL = Path(__file__).parent / "models" / "state.npz"
COLOUR_SIZE = (12, 6)  # width, height of the Lab colour picture
GREY_SIZE = (32, 12)
PATTERN_SLOTS = 10


def pattern_features(text: str) -> np.ndarray:
    """Letter/digit at each position, and the length, as one-hot indicators."""
    f = np.zeros(PATTERN_SLOTS * 2 + PATTERN_SLOTS + 1, np.float32)
    for i, c in enumerate(text[:PATTERN_SLOTS]):
        f[2 * i + (0 if c.isalpha() else 1)] = 1.0
    f[PATTERN_SLOTS * 2 + min(len(text), PATTERN_SLOTS)] = 1.0
    return f


def image_features(crop_bgr: np.ndarray) -> np.ndarray:
    """A coarse Lab picture (colour, layout) and a contrast-normalised grey picture of the crop."""
    if crop_bgr.ndim == 2:
        crop_bgr = cv2.cvtColor(crop_bgr, cv2.COLOR_GRAY2BGR)
    lab = cv2.cvtColor(
        cv2.resize(crop_bgr, COLOUR_SIZE, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2LAB
    )
    grey = cv2.resize(
        cv2.cvtColor(crop_bgr, cv2.COLOR_BGR2GRAY), GREY_SIZE, interpolation=cv2.INTER_AREA
    ).astype(np.float32)
    grey = (grey - grey.mean()) / (grey.std() + 8.0)
    return np.concatenate([lab.astype(np.float32).ravel() / 255.0, grey.ravel() / 4.0])


def features(crop_bgr: np.ndarray, text: str) -> np.ndarray:
    return np.concatenate([image_features(crop_bgr), pattern_features(text)])


@dataclass(frozen=True)
class StateGuess:
    state: str | None  # two-letter upper case, or None when not confident enough
    confidence: float  # probability of the most likely state


class StateModel:
    """The trained weights; `guess` names a state only above the cross-validated threshold."""

    def __init__(self, path: str | Path = DEFAULT_MODEL) -> None:
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"state model not found: {path}")
        with np.load(path) as z:
            self.mean = z["mean"].astype(np.float32)
            self.scale = z["scale"].astype(np.float32)
            self.weights = z["weights"].astype(np.float32)
            self.bias = z["bias"].astype(np.float32)
            self.states = [str(s) for s in z["states"]]
            self.threshold = float(z["threshold"])

    def probabilities(self, crop_bgr: np.ndarray, text: str) -> np.ndarray:
        x = (features(crop_bgr, text) - self.mean) / self.scale
        z = x @ self.weights + self.bias
        e = np.exp(z - z.max())
        return np.asarray(e / e.sum())

    def guess(self, crop_bgr: np.ndarray, text: str) -> StateGuess:
        p = self.probabilities(crop_bgr, text)
        k = int(p.argmax())
        conf = float(p[k])
        return StateGuess(self.states[k].upper() if conf >= self.threshold else None, conf)
