"""The development data in ../shared/data/plates-us: loading, and one fixed train/validation split.

The split is a hash of the file name, so it never changes between runs or machines, and the
validation part is never trained on by any model in this project.
"""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

DEFAULT_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "plates-us"


def data_dir() -> Path:
    """Where the development data is: $ALPR_DATA, else ../shared/data/plates-us beside the checkout."""
    return Path(os.environ.get("ALPR_DATA", DEFAULT_DATA))


def is_validation(name: str) -> bool:
    """One file in five is held out for validation, chosen by a hash of its name."""
    return int(hashlib.sha1(Path(name).name.encode()).hexdigest(), 16) % 5 == 0


@dataclass(frozen=True)
class Crop:
    path: Path
    state: str
    plate: str


@dataclass(frozen=True)
class Photo:
    path: Path
    box: tuple[int, int, int, int]  # x, y, w, h
    plate: str


def load_crops(root: Path | None = None) -> list[Crop]:
    root = (root or data_dir()) / "crops"
    with open(root / "labels.csv", newline="") as f:
        return [
            Crop(root / r["file"], r["state"].strip().lower(), r["plate"].strip().upper())
            for r in csv.DictReader(f)
        ]


def read_annotation(txt: Path) -> tuple[tuple[int, int, int, int], str]:
    """One TAB-separated line: file x y width height PLATE."""
    parts = txt.read_text().strip().split("\t")
    if len(parts) < 6:
        parts = txt.read_text().split()
    x, y, w, h = (int(float(v)) for v in parts[1:5])
    return (x, y, w, h), parts[5].strip().upper()


def load_photos(root: Path | None = None) -> list[Photo]:
    root = (root or data_dir()) / "photos"
    photos = []
    for txt in sorted(root.glob("*.txt")):
        box, plate = read_annotation(txt)
        for ext in (".jpg", ".jpeg", ".png"):
            img = txt.with_suffix(ext)
            if img.exists():
                photos.append(Photo(img, box, plate))
                break
    return photos


T = TypeVar("T", Crop, Photo)


def split(items: list[T]) -> tuple[list[T], list[T]]:
    """(train, validation) by the fixed name hash."""
    train = [i for i in items if not is_validation(i.path.name)]
    val = [i for i in items if is_validation(i.path.name)]
    return train, val
