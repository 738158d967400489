"""The shipped plate localiser: loads, survives odd input, honours the roi, and finds plates."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from gateway.reader.localiser import DEFAULT_MODEL, Candidate, PlateLocaliser
from tools.train.data import data_dir, load_photos, split


@pytest.fixture(scope="module")
def loc() -> PlateLocaliser:
    return PlateLocaliser()


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def test_model_loads_with_litert() -> None:
    from ai_edge_litert.interpreter import Interpreter

    assert DEFAULT_MODEL.is_file()
    assert DEFAULT_MODEL.stat().st_size < 3_000_000
    interp = Interpreter(model_path=str(DEFAULT_MODEL), num_threads=1)
    interp.allocate_tensors()
    assert interp.get_input_details()[0]["dtype"] == np.int8
    assert interp.get_output_details()[0]["dtype"] == np.int8


@pytest.mark.parametrize("shape", [(720, 1280, 3), (720, 1280), (199, 300, 3), (1329, 1748, 3)])
def test_blank_image_gives_a_list(loc: PlateLocaliser, shape: tuple[int, ...]) -> None:
    found = loc.find(np.full(shape, 128, np.uint8))
    assert isinstance(found, list)
    assert all(isinstance(c, Candidate) for c in found)


@pytest.mark.parametrize("plate_width", [None, 20, 90, 400])
def test_plate_width_hint_keeps_the_input_inside_the_network(
    loc: PlateLocaliser, plate_width: int | None
) -> None:
    scale = loc.scale_for(1280, 720, plate_width)
    assert 1280 * scale <= loc.input_size[0] + 0.5 and 720 * scale <= loc.input_size[1] + 0.5
    assert isinstance(loc.find(np.zeros((720, 1280, 3), np.uint8), plate_width=plate_width), list)


def test_noise_image_boxes_are_inside_the_image(loc: PlateLocaliser) -> None:
    img = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    for c in PlateLocaliser(min_score=0.0).find(img):
        x, y, w, h = c.box
        assert x >= 0 and y >= 0 and w > 0 and h > 0 and x + w <= 640 and y + h <= 480
        assert 0.0 <= c.score <= 1.0


def test_roi_boxes_stay_inside_the_roi() -> None:
    img = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), dtype=np.uint8)
    roi = (300, 200, 500, 300)
    found = PlateLocaliser(min_score=0.0, max_candidates=10).find(img, roi=roi)
    assert found, "min_score=0 should give candidates"
    for c in found:
        x, y, w, h = c.box
        assert roi[0] <= x and x + w <= roi[0] + roi[2]
        assert roi[1] <= y and y + h <= roi[1] + roi[3]


def test_candidates_are_best_first(loc: PlateLocaliser) -> None:
    img = np.random.default_rng(2).integers(0, 256, (720, 1280), dtype=np.uint8)
    scores = [c.score for c in PlateLocaliser(min_score=0.0).find(img)]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize("shape", [(0, 0), (0, 0, 3), (1, 1), (1, 1, 3), (5,)])
def test_bad_input_raises_value_error(loc: PlateLocaliser, shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="at least 2x2"):
        loc.find(np.zeros(shape, np.uint8))


def test_roi_outside_the_image_raises(loc: PlateLocaliser) -> None:
    with pytest.raises(ValueError, match="roi"):
        loc.find(np.zeros((100, 100, 3), np.uint8), roi=(200, 200, 50, 50))


def test_missing_model_file_is_clear() -> None:
    with pytest.raises(FileNotFoundError):
        PlateLocaliser(Path("/nonexistent/localiser.tflite"))


@pytest.mark.slow
def test_validation_recall(loc: PlateLocaliser) -> None:
    if not (data_dir() / "photos").is_dir():
        pytest.skip(f"development data not found at {data_dir()} (set ALPR_DATA)")
    _, val = split(load_photos())
    assert len(val) == 22
    hits = 0
    for p in val:
        img = cv2.imread(str(p.path))
        assert img is not None, p.path
        hits += any(iou(c.box, p.box) >= 0.5 for c in loc.find(img))
    recall = hits / len(val)
    assert recall >= 0.8, f"top-5 recall at IoU>=0.5 on validation is {recall:.2f}"
