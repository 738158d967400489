"""`alpr read IMAGE...`: read the plates in photos or plate crops."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gateway.reader.images import ImageError, load
from gateway.reader.reader import PlateReader, ReaderConfig, ReaderHints

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp"}


def parse_box(text: str) -> tuple[int, int, int, int]:
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected x,y,w,h in pixels, got {text!r}") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"region of interest must have a positive size: {text!r}")
    return x, y, w, h


def expand_paths(paths: list[Path]) -> Iterator[Path]:
    """Files as given; a directory gives every image file in it, sorted."""
    for p in paths:
        if p.is_dir():
            yield from sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        else:
            yield p


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("read", help="read plates in images (files or directories)")
    p.add_argument("images", nargs="+", type=Path, metavar="IMAGE")
    p.add_argument("--json", action="store_true", help="one JSON object per image and line")
    p.add_argument("--threads", type=int, default=1, help="TFLite threads (default 1)")
    p.add_argument("--roi", type=parse_box, help="region of interest hint: x,y,w,h")
    p.add_argument("--plate-width", type=int, help="expected plate width in pixels (hint)")
    p.add_argument(
        "--crop",
        action="store_true",
        help="each image is already a plate crop: skip the localiser, read the whole image",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.crop and (args.roi or args.plate_width):
        raise SystemExit(
            "alpr read: --crop reads whole images; --roi and --plate-width do not apply"
        )
    reader = PlateReader(ReaderConfig(num_threads=args.threads))
    hints = ReaderHints(args.roi, args.plate_width)
    failed = 0
    for path in expand_paths(args.images):
        start = time.perf_counter()
        out: dict[str, Any]
        try:
            image = load(path)
            plates = reader.read_crop_plates(image) if args.crop else reader.read(image, hints)
        except ImageError as exc:
            failed += 1
            out = {"image": str(path), "error": str(exc), "plates": []}
        else:
            ms = (time.perf_counter() - start) * 1000
            out = {"image": str(path), "plates": [p.to_json() for p in plates], "ms": round(ms, 2)}
        if args.json:
            print(json.dumps(out), flush=True)
        elif "error" in out:
            print(f"{path}: error: {out['error']}", file=sys.stderr)
        else:
            found = ", ".join(f"{p['text']} ({p['confidence']:.2f})" for p in out["plates"])
            print(f"{path}: {found or 'no plate'}  [{out['ms']} ms]")
    return 1 if failed else 0
