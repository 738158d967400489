"""Fine-tuning on officers' corrections of one kind of misread makes fewer of them (needs TensorFlow).

TensorFlow is only in the `train` extra, not in the test environment by default: without it this
test is skipped and says so.
"""

from __future__ import annotations

import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.reader.ocr import DEFAULT_MODEL, decode, preprocess

tf = pytest.importorskip(
    "tensorflow", reason="TensorFlow not installed (pip install .[train]): fine-tuning not tested"
)


def slanted(img: np.ndarray) -> np.ndarray:
    """A plate as a camera mounted well off to the side sees it: strongly sheared."""
    h, w = img.shape[:2]
    m = np.float32([[1, 0.45, 0], [0, 1, 0]])
    return cv2.warpAffine(img, m, (int(w + 0.45 * h), h), borderValue=(128, 128, 128))


def errors(model, plates: list[tuple[np.ndarray, str]]) -> int:  # type: ignore[no-untyped-def]
    x = np.stack([preprocess(img) for img, _ in plates]).astype(np.float32)[..., None] / 255
    probs = tf.nn.softmax(model(x, training=False)).numpy()
    return sum(decode(p).text != t for p, (_, t) in zip(probs, plates, strict=True))


def test_fine_tuning_on_corrections_fixes_that_kind_of_misread(tmp_path: Path) -> None:
    import keras

    from tools.train import ocr as train_ocr
    from tools.train.plates import render

    tf.config.threading.set_intra_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    rng = random.Random(5)
    plain = [render(rng) for _ in range(150)]
    fixes = [(slanted(img), text) for img, text in (render(rng) for _ in range(150))]
    held_back = [(slanted(img), text) for img, text in (render(rng) for _ in range(60))]

    model = train_ocr.from_tflite(DEFAULT_MODEL)
    before = errors(model, held_back)
    assert before >= 30, f"the shipped model already reads slanted plates ({before}/60 wrong)"

    # the training pipeline's own mix: corrections take their share, the rest are usual plates
    train_ocr._init_worker(plain, [], [], fixes)
    xs, texts = train_ocr._make_chunk((3, 2400))
    model.compile(optimizer=keras.optimizers.Adam(3e-4), loss=train_ocr.ctc_loss)
    model.fit(
        xs.astype(np.float32)[..., None] / 255,
        train_ocr.encode_labels(texts),
        batch_size=32,
        epochs=1,
        verbose=0,
    )
    after = errors(model, held_back)
    assert after < before * 0.7, f"slanted plates wrong: {before}/60 before, {after}/60 after"
