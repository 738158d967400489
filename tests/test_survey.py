"""The site survey: measurements, proposed hints that keep accuracy, --apply, and the gateway route."""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import pytest
from gateway_helpers import SECRET, load_config, scene_jpeg, serve_ingest, write_config

from gateway.config import load
from gateway.reader.reader import PlateReader, ReaderHints
from tools.errors import UserError
from tools.field.camera_sim import CameraClient
from tools.field.survey import fetch_from_gateway, measure, propose_hints, set_hints_text
from tools.train.data import load_photos


def test_set_hints_replaces_only_that_camera(tmp_path: Path) -> None:
    path = write_config(tmp_path, extra="[cameras.hints]\nplate_width = 50\n")
    text = set_hints_text(path.read_text(), "cam-01", ReaderHints((1, 2, 300, 400), 111))
    path.write_text(text)
    config = load(path)
    assert config.cameras["cam-01"].hints == ReaderHints((1, 2, 300, 400), 111)
    assert config.cameras["cam-02"].hints == ReaderHints(None, 50)
    assert text.count("[cameras.hints]") == 2


def test_survey_on_development_photos_keeps_accuracy(dev_data: Path, tmp_path: Path) -> None:
    """Photos of one camera geometry (1280x720): hints proposed from them keep or improve accuracy."""
    photos = [p for p in load_photos(dev_data) if cv2.imread(str(p.path)).shape[:2] == (720, 1280)][
        :30
    ]
    reader = PlateReader()
    images = [cv2.imread(str(p.path)) for p in photos]
    captures = [measure(p.path.name, img, reader) for p, img in zip(photos, images, strict=True)]
    measured = [c for c in captures if c.box is not None]
    assert len(measured) >= 20
    assert all(
        5 < c.char_height_px < 200 and c.sharpness > 0 and 0 <= c.glare <= 1 for c in measured
    )
    hints = propose_hints(captures, images[0].shape)
    assert hints is not None and hints.roi is not None and hints.plate_width
    without = sum(
        any(r.text == p.plate for r in reader.read(img))
        for p, img in zip(photos, images, strict=True)
    )
    with_hints = sum(
        any(r.text == p.plate for r in reader.read(img, hints))
        for p, img in zip(photos, images, strict=True)
    )
    assert with_hints >= without, f"hints cost accuracy: {with_hints} vs {without} of {len(photos)}"


def test_survey_cli_apply_and_report(tmp_path: Path) -> None:
    images = tmp_path / "captures"
    images.mkdir()
    rng = random.Random(4)
    for i in range(4):
        (images / f"c{i}.jpg").write_bytes(scene_jpeg(f"SV{rng.randint(1000, 9999)}", seed=i))
    config = write_config(tmp_path)
    report = tmp_path / "survey.html"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.cli",
            "survey",
            "--camera",
            "cam-01",
            "--images",
            str(images),
            "--config",
            str(config),
            "--apply",
            "--report",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert "proposed hints" in out.stdout, out.stderr
    html = report.read_text()
    assert html.count("data:image/jpeg;base64,") == 4 and "char h px" in html
    if "roi=None" not in out.stdout:
        assert load(config).cameras["cam-01"].hints.plate_width is not None
        assert (tmp_path / "alpr.toml.bak").exists()


def test_gateway_survey_route_needs_the_camera_secret(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    with serve_ingest(config) as (url, _store):
        client = CameraClient(url, "cam-01", SECRET.encode())
        frame = scene_jpeg("ABC123")
        assert client.send_event(1, [frame])[0] == 201
        client.close()
        got = fetch_from_gateway(url, "cam-01", SECRET.encode(), 5)
        assert got == [("cam-01-seq1", frame)]
        with pytest.raises(UserError, match=r"answered 401: .*bad signature"):
            fetch_from_gateway(url, "cam-01", b"wrong", 5)
        assert fetch_from_gateway(url, "cam-02", b"other-secret", 5) == []
    shutil.rmtree(tmp_path / "data")
