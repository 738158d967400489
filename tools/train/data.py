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


def load_crops(root: Path | None = None, folder: str = "crops") -> list[Crop]:
    root = (root or data_dir()) / folder if folder else (root or data_dir())
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


def load_photos(root: Path | None = None, folder: str = "photos") -> list[Photo]:
    root = (root or data_dir()) / folder if folder else (root or data_dir())
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


# ---- five folds by plate, for cross-validation ----------------------------------------------
FOLDS = 5


def _plate_hash(plate: str) -> int:
    return int(hashlib.sha1(plate.encode()).hexdigest(), 16)


def folds(items: list[Crop | Photo]) -> dict[Path, int]:
    """Each item's fold (0-4), split by plate: the same plate text never lies in two folds.

    Fold 0 holds exactly the plates whose every file is in the fixed validation fifth, so it is
    the one fold the shipped models never saw (not even as the same plate in another file).
    Folds 1-4 share the other plates by a hash of the plate text.
    """
    trained = {i.plate for i in items if not is_validation(i.path.name)}
    out = {}
    for i in items:
        out[i.path] = 0 if i.plate not in trained else 1 + _plate_hash(i.plate) % (FOLDS - 1)
    return out


def fold_split(items: list[T], fold: int, assignment: dict[Path, int]) -> tuple[list[T], list[T]]:
    """(train, test) for one fold: test is that fold, train every other."""
    return (
        [i for i in items if assignment[i.path] != fold],
        [i for i in items if assignment[i.path] == fold],
    )


def all_folds(root: Path | None = None) -> dict[Path, int]:
    """The fold of every development crop and photo, assigned together so plates never straddle."""
    items: list[Crop | Photo] = [*load_crops(root), *load_photos(root)]
    return folds(items)


def load_world(root: Path | None = None) -> list[Photo]:
    """plates-world photos (br, eu; annotated as plates-us/photos): extra training plates only."""
    base = (root or data_dir()).parent / "plates-world"
    photos: list[Photo] = []
    for sub in ("br", "eu"):
        if (base / sub).is_dir():
            photos.extend(load_photos(base / sub, folder=""))
    return photos
