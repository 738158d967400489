"""The shipped reader: models load with the pinned runtime, read real plates, honour the output contract."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.reader.images import ImageError
from gateway.reader.ocr import DEFAULT_MODEL as OCR_MODEL
from gateway.reader.reader import PlateReader, ReaderHints
from gateway.reader.runtime import TFLiteModel
from tools.train.data import is_validation, load_crops, load_photos

PLATE = re.compile(r"^[A-Z0-9]{1,10}$")


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


def test_models_are_int8_and_small() -> None:
    import ai_edge_litert

    assert ai_edge_litert.__version__.startswith("2.3")
    models = list(OCR_MODEL.parent.glob("*.tflite"))
    assert {m.name for m in models} == {"ocr.tflite", "localiser.tflite"}
    assert sum(m.stat().st_size for m in models) < 10 * 2**20
    for m in models:
        model = TFLiteModel(m)
        assert model.input_dtype == np.int8 and model.output_dtype == np.int8


def test_reads_real_validation_crops(reader: PlateReader, dev_data: Path) -> None:
    """Crops never trained on; the shipped OCR must get nearly all of a fixed handful right."""
    crops = [c for c in load_crops(dev_data) if is_validation(c.path.name) and len(c.plate) <= 8][
        :12
    ]
    right = [reader.read_crop(cv2.imread(str(c.path))).text == c.plate for c in crops]
    assert sum(right) >= 10, f"{sum(right)}/12 validation crops read exactly"


def test_reads_a_real_photo_end_to_end(reader: PlateReader, dev_data: Path) -> None:
    photos = [p for p in load_photos(dev_data) if is_validation(p.path.name)][:8]
    found = sum(
        any(r.text == p.plate for r in reader.read(cv2.imread(str(p.path)))) for p in photos
    )
    assert found >= 6, f"{found}/8 validation photos read exactly"


def test_hints_restrict_the_search(reader: PlateReader, dev_data: Path) -> None:
    photo = load_photos(dev_data)[0]
    image = cv2.imread(str(photo.path))
    x, y, w, h = photo.box
    inside = reader.read(image, ReaderHints(roi=(max(0, x - w), max(0, y - h), 3 * w, 3 * h)))
    assert all(x - w <= r.box[0] <= x + 2 * w for r in inside)
    elsewhere = reader.read(image, ReaderHints(roi=(0, 0, 64, 64)))
    assert all(r.text != photo.plate for r in elsewhere)


def test_blank_and_tiny_images(reader: PlateReader) -> None:
    assert reader.read(np.full((720, 1280, 3), 128, np.uint8)) == []
    with pytest.raises(ImageError, match="too small"):
        reader.read(np.zeros((1, 1, 3), np.uint8))
    with pytest.raises(ImageError, match="empty image"):
        reader.read(np.zeros((0, 0, 3), np.uint8))


def test_cli_json_contract_and_bad_files(tmp_path: Path) -> None:
    import random

    from tools.scenes import make_scene

    frame, _, _ = make_scene(random.Random(11))
    cv2.imwrite(str(tmp_path / "a-scene.jpg"), frame)
    (tmp_path / "b-empty.jpg").write_bytes(b"")
    (tmp_path / "c-notes.png").write_text("not an image")
    out = subprocess.run(
        [sys.executable, "-m", "tools.cli", "read", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [Path(line["image"]).name for line in lines] == [
        "a-scene.jpg",
        "b-empty.jpg",
        "c-notes.png",
    ]
    assert out.returncode == 1, (
        "a bad file makes the exit status non-zero, after the others are read"
    )
    good, empty, notes = lines
    assert set(good) == {"image", "plates", "ms"} and good["ms"] > 0
    for plate in good["plates"]:
        assert set(plate) == {
            "text",
            "confidence",
            "box",
            "alternates",
            "state",
            "state_confidence",
        }
        assert plate["state"] is None or re.match(r"^[A-Z]{2}$", plate["state"])
        assert (
            PLATE.match(plate["text"]) and 0 <= plate["confidence"] <= 1 and len(plate["box"]) == 4
        )
        assert all(PLATE.match(t) for t, _ in plate["alternates"])
    assert "empty file" in empty["error"] and "not a decodable image" in notes["error"]
