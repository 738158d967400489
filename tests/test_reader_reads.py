"""What a read says and how it is judged: whole-crop reads, the state, junk reads, best-read scoring."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from gateway.reader import ocr
from gateway.reader.reader import PlateRead, PlateReader, ReaderConfig
from gateway.reader.state import StateModel, features
from tools.train.data import load_crops
from tools.train.evaluate import HotlistCheck, Tally


@pytest.fixture(scope="module")
def reader() -> PlateReader:
    return PlateReader()


def test_read_crop_reads_the_whole_image(tmp_path: Path, dev_data: Path) -> None:
    crop = next(c for c in load_crops(dev_data) if c.plate == "FUW999")
    image = cv2.imread(str(crop.path))
    # a plate crop that the localiser would not find as a plate: a wide grey border around it
    padded = cv2.copyMakeBorder(image, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=(128, 128, 128))
    cv2.imwrite(str(tmp_path / "plate.png"), padded)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.cli",
            "read",
            "--crop",
            "--json",
            str(tmp_path / "plate.png"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stdout)
    assert line["plates"][0]["text"] == "FUW999"
    assert line["plates"][0]["box"] == [0, 0, padded.shape[1], padded.shape[0]]
    assert {"state", "state_confidence"} <= set(line["plates"][0])


def test_read_crop_names_bad_files(tmp_path: Path) -> None:
    (tmp_path / "a-empty.png").write_bytes(b"")
    (tmp_path / "b-notes.png").write_text("not an image")
    cv2.imwrite(str(tmp_path / "c-tiny.png"), np.zeros((4, 4, 3), np.uint8))
    out = subprocess.run(
        [sys.executable, "-m", "tools.cli", "read", "--crop", "--json", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    errors = [json.loads(line)["error"] for line in out.stdout.splitlines()]
    assert out.returncode == 1
    assert "empty file" in errors[0] and "not a decodable image" in errors[1]
    assert "too small" in errors[2]


def test_read_crop_refuses_photo_hints(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tools.cli", "read", "--crop", "--roi", "0,0,9,9", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode != 0 and "--crop reads whole images" in out.stderr


def state_model(tmp_path: Path, bias: list[float], threshold: float) -> StateModel:
    dims = features(np.zeros((20, 40, 3), np.uint8), "ABC123").size
    path = tmp_path / "state.npz"
    np.savez(
        path,
        mean=np.zeros(dims, np.float32),
        scale=np.ones(dims, np.float32),
        weights=np.zeros((dims, 2), np.float32),
        bias=np.array(bias, np.float32),
        states=np.array(["ca", "ny"]),
        threshold=np.float32(threshold),
    )
    return StateModel(path)


def test_state_is_null_when_unsure(tmp_path: Path) -> None:
    crop = np.full((40, 90, 3), 200, np.uint8)
    unsure = state_model(tmp_path, [0.0, 0.0], threshold=0.6).guess(crop, "ABC123")
    assert unsure.state is None and unsure.confidence == pytest.approx(0.5)
    sure = state_model(tmp_path, [3.0, 0.0], threshold=0.6).guess(crop, "ABC123")
    assert sure.state == "CA" and sure.confidence > 0.9


def test_shipped_state_model_names_states_only_above_its_threshold(reader: PlateReader) -> None:
    assert reader.states is not None and 0 < reader.states.threshold < 1
    flat = np.full((60, 130, 3), 90, np.uint8)
    guess = reader.states.guess(flat, "ZZ")
    assert (guess.state is None) == (guess.confidence < reader.states.threshold)
    read = PlateRead("ABC123", 0.9, (0, 0, 1, 1), [], None, 0.2)
    assert read.to_json()["state"] is None


def test_junk_short_reads_are_not_reported() -> None:
    r = PlateReader(ReaderConfig(state_model=None))
    assert not r.looks_like_plate(ocr.TextRead("7K", 0.6, []))
    assert not r.looks_like_plate(ocr.TextRead("ABC", 0.8, []))
    assert r.looks_like_plate(ocr.TextRead("ABC", 0.95, []))  # short vanity plate, read surely
    assert r.looks_like_plate(ocr.TextRead("ABC1", 0.3, []))
    assert not r.looks_like_plate(ocr.TextRead("ABCD1234567", 0.99, []))  # longer than any plate
    assert not r.looks_like_plate(ocr.TextRead("ABC1234", 0.01, []))


def read(
    text: str, conf: float = 0.9, alternates: list[tuple[str, float]] | None = None
) -> PlateRead:
    return PlateRead(text, conf, (0, 0, 10, 5), alternates or [])


def test_evaluation_counts_only_the_best_read() -> None:
    tally = Tally()
    tally.add("ABC123", [read("XYZ999", 0.9), read("ABC123", 0.5)], 1.0)
    tally.add("DEF456", [read("DEF456", 0.8)], 1.0)
    tally.add("GHI789", [], 1.0)
    s = tally.summary(alert_confidence=0.05)
    assert s["exact"] == pytest.approx(1 / 3)
    assert s["exact_any_read"] == pytest.approx(2 / 3)
    assert s["precision_at_alert_confidence"] == pytest.approx(1 / 2)
    assert s["reads_at_alert_confidence"] == 2


def test_hotlist_recall_and_false_hits_through_the_matcher() -> None:
    check = HotlistCheck(["ABC1234", "XYZ999"], n=2000)
    check.add("ABC1234", [read("A8C1234")])  # one confusable character: the matcher still hits
    check.add("XYZ999", [read("QQQ111")])
    check.add("XYZ999", [])
    s = check.summary()
    assert s["hotlist_recall"] == pytest.approx(1 / 3)
    assert s["hotlist_entries"] == 2000
    assert s["false_hits_per_1000_reads"] >= 0


def test_a_sure_short_fragment_never_outranks_a_plate(
    reader: PlateReader, dev_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real photo whose localiser finds the plate and a sticker; the sticker's read is made
    surer than the plate's, as a crisp one- to three-character sticker can read."""
    image = cv2.imread(str(dev_data / "photos" / "car20.jpg"))
    real_read_box = reader.read_box

    def read_box(img: np.ndarray, box: tuple[int, int, int, int]) -> Any:
        found = real_read_box(img, box)
        if found is None:
            return None
        text, crop = found
        if len(text.text) >= 4:  # the plate, read less surely than the fragment
            return ocr.TextRead(text.text, 0.6, text.alternates), crop
        return ocr.TextRead(text.text[:3], 0.999, []), crop

    monkeypatch.setattr(reader, "read_box", read_box)
    reads = reader.read(image)
    summary = [(r.text, r.confidence) for r in reads]
    assert reads[0].text == "YG8E4F", summary
    assert len(reads) > 1 and all(len(r.text) < 4 and r.confidence > 0.9 for r in reads[1:]), (
        summary
    )
