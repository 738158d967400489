"""`alpr train cv`: each fold's model trains on the other four folds only, by plate.

Runs on a small made-up development set (file names and labels only: no image is read) with the
trainer and the evaluation replaced by recorders, so it takes well under a second.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from tools.train import cv, ocr
from tools.train import data as dev
from tools.train.glyphs import segment
from tools.train.plates import render


def fake_dataset(root: Path) -> None:
    """68 crops and 30 photos over 33 plates; most plates have several files, some both kinds."""
    rng = random.Random(7)
    plates = [f"P{i:02d}X{rng.randrange(100, 999)}" for i in range(25)]
    (root / "crops").mkdir(parents=True)
    (root / "photos").mkdir()
    rows = ["file,state,plate"]
    for i in range(60):
        rows.append(f"c{i:03d}.jpg,ca,{plates[i % 25]}")
    # fold 0 is the plates whose every file falls in the fixed validation fifth: a few such
    names = (f"v{n:03d}.jpg" for n in range(1000))
    for j, name in enumerate([n for n in names if dev.is_validation(n)][:8]):
        rows.append(f"{name},ny,V{j}Q{j}{j}")
    (root / "crops" / "labels.csv").write_text("\n".join(rows) + "\n")
    for i in range(30):
        plate = plates[(i * 7) % 25]
        (root / "photos" / f"p{i:03d}.txt").write_text(f"p{i:03d}.jpg\t10\t20\t80\t30\t{plate}\n")
        (root / "photos" / f"p{i:03d}.jpg").write_bytes(b"")


FIGURES: dict[str, Any] = {  # what a fold's evaluation returns, in the tests' made-up runs
    "crops": {"exact": 0.9, "n": 10},
    "photos": {"exact": 0.8, "exact_any_read": 0.85, "hotlist_recall": 0.8, "n": 5},
}


def plates_of(items: list[Any]) -> set[str]:
    return {i.plate for i in items}


def test_every_fold_keeps_its_plates_out_of_training(tmp_path: Path) -> None:
    fake_dataset(tmp_path)
    crops, photos = dev.load_crops(tmp_path), dev.load_photos(tmp_path)
    assignment = dev.folds([*crops, *photos])
    assert len(set(assignment.values())) == dev.FOLDS  # the made-up set fills every fold
    for k in range(dev.FOLDS):
        p = cv.plan(crops, photos, k)
        train: list[dev.Crop | dev.Photo] = [*p.train_crops, *p.train_photos]
        test: list[dev.Crop | dev.Photo] = [*p.test_crops, *p.test_photos]
        assert test and train
        assert all(assignment[i.path] == k for i in test)
        assert all(assignment[i.path] != k for i in train)
        assert not plates_of(train) & plates_of(test), f"fold {k}: a plate on both sides"
        assert len(train) + len(test) == len(crops) + len(photos)


def test_cv_trains_without_fold_k_and_measures_on_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dataset(tmp_path / "data")
    assignment = dev.all_folds(tmp_path / "data")
    everything: list[dev.Crop | dev.Photo] = [
        *dev.load_crops(tmp_path / "data"),
        *dev.load_photos(tmp_path / "data"),
    ]
    trained: list[tuple[Path, ocr.TrainItems, str]] = []
    measured: list[tuple[Path, int]] = []

    def fake_train(out: Path, **kw: Any) -> dict[str, object]:
        trained.append((out, kw["items"], kw["recipe"]))
        out.mkdir(parents=True, exist_ok=True)
        (out / "ocr.json").write_text(json.dumps({"fold": None}))
        return {}

    def fake_eval(model: Path, root: Path, fold: int, entries: int) -> dict[str, Any]:
        measured.append((model, fold))
        return FIGURES

    monkeypatch.setattr(ocr, "train", fake_train)
    monkeypatch.setattr(cv, "evaluate_fold", fake_eval)
    out = tmp_path / "cv"
    assert cv.main(["--data", str(tmp_path / "data"), "--out", str(out), "--minutes", "1"]) == 0

    assert [fold for _, fold in measured] == list(range(dev.FOLDS))
    for k, ((where, items, recipe), (model, fold)) in enumerate(
        zip(trained, measured, strict=True)
    ):
        assert where == out / f"f{k}" and model == where / "ocr.tflite" and fold == k
        assert recipe == "shipped"
        # nothing of fold k reaches the trainer, not even to log or to pick a checkpoint
        assert not items.held_out_crops and not items.held_out_photos
        seen: list[dev.Crop | dev.Photo] = [*items.crops, *items.photos]
        assert seen and all(assignment[i.path] != k for i in seen)
        assert not plates_of(seen) & {i.plate for i in everything if assignment[i.path] == k}
        assert json.loads((where / "ocr.json").read_text())["fold"] == k
    result = json.loads((out / "cv.json").read_text())
    assert result["summary"]["crops, strict"] == {"mean": pytest.approx(0.9), "sd": 0.0}


def test_shipped_mix_keeps_its_shares_without_photo_regions() -> None:
    """The shipped recipe has no jittered photo plates: real 35 %, composed 40 %, rendered 25 %."""
    rng = random.Random(1)
    rendered = [render(rng) for _ in range(30)]
    segs = [s for img, text in rendered if (s := segment(img, text)) is not None]
    plate = np.full((40, 120, 3), 200, np.uint8)
    cv2.putText(plate, "REAL1", (5, 30), cv2.FONT_HERSHEY_SIMPLEX, 1, (0, 0, 0), 2)
    ocr._init_worker([(plate, "REAL1")], segs, [], [], ocr.SHIPPED_MIX)
    _, texts = ocr._make_chunk((0, 300))
    share = texts.count("REAL1") / len(texts)
    assert 0.25 < share < 0.45, share


def test_a_sample_budget_reaches_every_fold_and_the_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--samples N` trains each fold for N samples, not for a time that a busy machine shortens."""
    fake_dataset(tmp_path / "data")
    budgets: list[object] = []

    def fake_train(out: Path, **kw: Any) -> dict[str, object]:
        budgets.append(kw.get("samples"))
        out.mkdir(parents=True, exist_ok=True)
        (out / "ocr.json").write_text("{}")
        return {}

    monkeypatch.setattr(ocr, "train", fake_train)
    monkeypatch.setattr(cv, "evaluate_fold", lambda *a: FIGURES)
    out = tmp_path / "cv"
    args = ["--data", str(tmp_path / "data"), "--out", str(out), "--samples", "1234"]
    assert cv.main(args) == 0
    assert budgets == [1234] * dev.FOLDS
    result = json.loads((out / "cv.json").read_text())
    assert result["samples"] == 1234 and result["minutes"] is None
    assert "at 1,234 samples per fold" in capsys.readouterr().out


def test_a_model_trained_on_every_fold_is_marked_trained_on_all_of_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`alpr train ocr --fold all` (the model to ship) holds nothing out, so no fold is a test."""
    from tools.train import evaluate

    fake_dataset(tmp_path / "data")
    monkeypatch.setenv("ALPR_DATA", str(tmp_path / "data"))
    seen: list[ocr.TrainItems] = []

    def fake_train(out: Path, *args: Any, **kw: Any) -> dict[str, object]:
        seen.append(kw["items"])
        assert kw["samples"] == 500 and kw["recipe"] == "shipped"
        out.mkdir(parents=True, exist_ok=True)
        (out / "ocr.json").write_text(json.dumps({"fold": None, "last": {}}))
        return {"last": {}}

    monkeypatch.setattr(ocr, "train", fake_train)
    out = tmp_path / "all"
    argv = ["--fold", "all", "--recipe", "shipped", "--samples", "500", "--out", str(out)]
    assert ocr.main(argv) == 0
    crops, photos = dev.load_crops(tmp_path / "data"), dev.load_photos(tmp_path / "data")
    assert len(seen[0].crops) == len(crops) and len(seen[0].photos) == len(photos)
    assert not seen[0].held_out_crops and not seen[0].held_out_photos
    assert json.loads((out / "ocr.json").read_text())["fold"] == "all"
    for k in range(dev.FOLDS):
        assert evaluate.unseen_by_training(out / "ocr.tflite", k) is False


@pytest.mark.parametrize("bad", ["5", "-1", "x", ""])
def test_a_fold_that_does_not_exist_is_refused_by_name(bad: str) -> None:
    with pytest.raises(SystemExit):
        ocr.main(["--fold", bad])


def test_state_features_come_from_the_ocr_that_never_saw_the_crop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`alpr train state --ocr-model 'cv/f{fold}/ocr.tflite'`: each crop read out of fold."""
    from tools.train import state

    fake_dataset(tmp_path / "data")
    for c in dev.load_crops(tmp_path / "data"):
        cv2.imwrite(str(c.path), np.full((30, 90, 3), 128, np.uint8))
    assignment = dev.all_folds(tmp_path / "data")
    read_by: dict[str, str] = {}

    class Recorder:
        def __init__(self, path: str) -> None:
            self.path = path

        def read(self, img: np.ndarray) -> Any:
            read_by[f"{len(read_by)}"] = self.path
            return type("Read", (), {"text": "ABC123"})()

    monkeypatch.setattr(state, "PlateOCR", Recorder)
    _, labels, fold_of = state.dataset(tmp_path / "data", "cv/f{fold}/ocr.tflite")
    assert len(labels) == len(read_by) == len(fold_of) > 0
    for i, fold in enumerate(fold_of):
        assert read_by[str(i)] == f"cv/f{fold}/ocr.tflite"
    assert set(fold_of) == set(assignment.values())
    with pytest.raises(SystemExit, match="no OCR model at"):
        state.main(["--ocr-model", str(tmp_path / "none-f{fold}.tflite")])
