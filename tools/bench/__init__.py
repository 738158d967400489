"""`alpr bench KIND`: benchmarks that print numbers for the README's performance table."""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from gateway.reader.images import load
from gateway.reader.reader import PlateReader, ReaderConfig
from tools.bench import firmware as firmware_bench
from tools.bench import gateway as bench_gateway
from tools.train.data import data_dir


def timings(fn: Callable[[Any], object], items: list[Any], warmup: int = 3) -> dict[str, float]:
    """Median and p95 milliseconds of fn over items, after a few warm-up calls."""
    for item in items[:warmup]:
        fn(item)
    ms = []
    for item in items:
        start = time.perf_counter()
        fn(item)
        ms.append((time.perf_counter() - start) * 1000)
    return {"n": len(ms), "median_ms": float(np.median(ms)), "p95_ms": float(np.percentile(ms, 95))}


def photos_1280x720(source: Path | None, n: int) -> tuple[list[bytes], str]:
    """JPEG bytes of 1280x720 photos: the real development photos when present, else made scenes."""
    folder = source or data_dir() / "photos"
    if folder.is_dir():
        files = sorted(folder.glob("*.jpg"))
        frames = [cv2.resize(load(f), (1280, 720)) for f in files[:n]]
        origin = str(folder)
    else:
        from tools.scenes import make_scene

        rng = random.Random(0)
        frames = [make_scene(rng)[0] for _ in range(n)]
        origin = "generated scenes (development photos absent)"
    return [
        cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes() for f in frames
    ], origin


def plate_crops(n: int) -> tuple[list[np.ndarray], str]:
    folder = data_dir() / "crops"
    if folder.is_dir():
        return [load(f) for f in sorted(folder.glob("*.png"))[:n]], str(folder)
    from tools.train.plates import render

    rng = random.Random(0)
    return [render(rng)[0] for _ in range(n)], "rendered plates (development crops absent)"


def bench_reader(args: argparse.Namespace) -> dict[str, Any]:
    from gateway.reader.images import decode

    reader = PlateReader(ReaderConfig(num_threads=args.threads))
    jpegs, origin = photos_1280x720(args.images, args.n)
    frames = [decode(j) for j in jpegs]
    crops, crop_origin = plate_crops(args.n)
    # side by side on the same photos: the budget is end to end <= 4x the JPEG decode alone
    jpeg_decode = timings(decode, jpegs)
    end_to_end = timings(lambda j: reader.read(decode(j)), jpegs)
    return {
        "threads": args.threads,
        "photos": origin,
        "jpeg_decode_1280x720": jpeg_decode,
        "photo_read": timings(reader.read, frames),
        "photo_decode_and_read": end_to_end,
        "end_to_end_over_decode": round(end_to_end["median_ms"] / jpeg_decode["median_ms"], 2),
        "crops": crop_origin,
        "ocr_per_crop": timings(reader.ocr.read, crops),
        "crop_read_with_state": timings(reader.read_crop_plates, crops),
        "models_mb": round(
            sum(p.stat().st_size for p in (reader.config.ocr_model, reader.config.localiser_model))
            / 2**20,
            3,
        ),
    }


BENCHES: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "reader": bench_reader,
    "hotlist": bench_gateway.bench_hotlist,
    "ingest": bench_gateway.bench_ingest,
    "pipeline": bench_gateway.bench_pipeline,
    "sync": bench_gateway.bench_sync,
    "firmware": firmware_bench.bench_firmware,
    "search": lambda args: search_bench(args),
}


def search_bench(args: argparse.Namespace) -> dict[str, Any]:
    from tools.bench import search as bench_search  # DuckDB and Arrow load only for this bench

    return bench_search.bench_search(args)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("bench", help="benchmarks: " + ", ".join(BENCHES))
    p.add_argument("kind", choices=sorted(BENCHES))
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--n", type=int, default=100, help="items to time")
    p.add_argument("--images", type=Path, help="folder of photos (default: development photos)")
    p.add_argument("--entries", type=int, default=1_000_000, help="hotlist: entries to load")
    p.add_argument(
        "--reads", type=int, default=100_000, help="hotlist: reads to match; search: in the index"
    )
    p.add_argument("--n-search", type=int, default=5, help="search: timed runs of each search")
    p.add_argument("--events", type=int, default=2000, help="ingest: events to send")
    p.add_argument("--events-pipeline", type=int, default=40, help="pipeline: captures to send")
    p.add_argument("--rate", type=float, default=2.0, help="pipeline: captures per second")
    p.add_argument("--reads-sync", type=int, default=500, help="sync: reads to upload")
    p.add_argument("--s3-port", type=int, default=17480, help="sync: port for the local RGW")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def show(result: dict[str, Any], indent: str = "") -> None:
    for key, value in result.items():
        if isinstance(value, dict) and "median_ms" in value:
            print(
                f"{indent}{key:<24} median {value['median_ms']:7.2f} ms   p95 {value['p95_ms']:7.2f} ms"
                f"   (n={value['n']})"
            )
        else:
            print(f"{indent}{key:<24} {value}")


def run(args: argparse.Namespace) -> int:
    result = BENCHES[args.kind](args)
    if args.json:
        print(json.dumps(result))
    else:
        show(result)
    return 0
