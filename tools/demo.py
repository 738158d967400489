"""`alpr demo`: the reader end to end on scenes made here, with nothing to install or download."""

from __future__ import annotations

import argparse
import logging
import random
import time
from pathlib import Path

import cv2

from gateway.reader.reader import PlateReader, ReaderConfig
from tools.scenes import make_scene

log = logging.getLogger("alpr.demo")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("demo", help="read plates in generated street scenes, end to end")
    p.add_argument("--scenes", type=int, default=12)
    p.add_argument("--out", type=Path, default=Path("build/demo"))
    p.add_argument("--seed", type=int, default=7)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    reader = PlateReader(ReaderConfig())
    correct = 0
    total_ms = 0.0
    for i in range(args.scenes):
        frame, text, _ = make_scene(rng)
        path = args.out / f"scene-{i:02d}.jpg"
        cv2.imwrite(str(path), frame)
        start = time.perf_counter()
        plates = reader.read(frame)
        total_ms += (time.perf_counter() - start) * 1000
        got = plates[0].text if plates else "-"
        correct += any(p.text == text for p in plates)
        print(f"{path}: plate {text:<8} read {got:<8} {'ok' if got == text else 'MISS'}")
    print(
        f"summary: {args.scenes} scenes, {correct} plates read exactly, "
        f"{total_ms / max(1, args.scenes):.1f} ms per scene"
    )
    return 0
