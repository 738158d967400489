"""`alpr eval crops|photos DIR`: accuracy of the reader on labelled plates.

Whole-plate accuracy is strict (exact upper-case match); the figure with O/0 and I/1 merged is
printed beside it, never instead of it.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from gateway.reader.images import ImageError, load
from gateway.reader.reader import PlateReader, ReaderConfig
from tools.train.data import read_annotation

log = logging.getLogger("alpr.eval")
PROGRESS_EVERY = 50


def merged(text: str) -> str:
    """The plate with the two classic ambiguities folded: O->0, I->1."""
    return text.upper().replace("O", "0").replace("I", "1")


def edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def iou(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = iw * ih
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


class Tally:
    """Running totals of the accuracy figures."""

    def __init__(self) -> None:
        self.n = 0
        self.strict = 0
        self.loose = 0
        self.chars = 0
        self.char_total = 0
        self.ms: list[float] = []
        self.errors: list[str] = []

    def add(self, label: str, candidates: list[str], ms: float) -> bool:
        """Count one labelled plate; correct when any candidate equals the label."""
        self.n += 1
        self.ms.append(ms)
        ok = label in candidates
        self.strict += ok
        self.loose += merged(label) in {merged(c) for c in candidates}
        dist = min((edit_distance(c, label) for c in candidates), default=len(label))
        self.chars += max(0, len(label) - dist)
        self.char_total += len(label)
        return ok

    def summary(self) -> dict[str, Any]:
        ms = np.array(self.ms or [0.0])
        return {
            "n": self.n,
            "exact": self.strict / max(1, self.n),
            "exact_o0_i1_merged": self.loose / max(1, self.n),
            "char_accuracy": self.chars / max(1, self.char_total),
            "median_ms": float(np.median(ms)),
            "p95_ms": float(np.percentile(ms, 95)),
            "errors": len(self.errors),
        }


def eval_crops(reader: PlateReader, root: Path) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Read every crop in labels.csv; returns the summary and per-state [correct, total]."""
    tally = Tally()
    by_state: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    with open(root / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for i, row in enumerate(rows, 1):
        label = row["plate"].strip().upper()
        try:
            img = load(root / row["file"])
        except ImageError as exc:
            tally.errors.append(str(exc))
            continue
        start = time.perf_counter()
        text = reader.read_crop(img).text
        ok = tally.add(label, [text], (time.perf_counter() - start) * 1000)
        state = row.get("state", "?").strip().lower()
        by_state[state][0] += ok
        by_state[state][1] += 1
        if i % PROGRESS_EVERY == 0:
            log.info(
                "%d/%d crops, %.1f %% exact so far", i, len(rows), 100 * tally.strict / tally.n
            )
    return tally.summary(), dict(by_state)


def eval_photos(reader: PlateReader, root: Path) -> dict[str, Any]:
    """Read every annotated photo end to end; a photo is correct when any plate read equals its label."""
    tally = Tally()
    found = 0
    txts = sorted(root.glob("*.txt"))
    for i, txt in enumerate(txts, 1):
        box, label = read_annotation(txt)
        image = next(
            (txt.with_suffix(s) for s in (".jpg", ".jpeg", ".png") if txt.with_suffix(s).exists()),
            None,
        )
        if image is None:
            tally.errors.append(f"{txt}: no image beside it")
            continue
        try:
            img = load(image)
        except ImageError as exc:
            tally.errors.append(str(exc))
            continue
        start = time.perf_counter()
        plates, candidates = reader.read_detailed(img)
        ms = (time.perf_counter() - start) * 1000
        tally.add(label, [p.text for p in plates], ms)
        found += any(iou(c, box) >= 0.5 for c in candidates)
        if i % PROGRESS_EVERY == 0:
            log.info(
                "%d/%d photos, %.1f %% exact so far", i, len(txts), 100 * tally.strict / tally.n
            )
    summary = tally.summary()
    summary["detection_recall_iou50"] = found / max(1, tally.n)
    return summary


def plot_by_state(by_state: dict[str, list[int]], out: Path) -> None:
    """A bar chart of strict accuracy per state, with the number of crops on each bar."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    states = sorted(by_state)
    acc = [100 * by_state[s][0] / by_state[s][1] for s in states]
    fig, ax = plt.subplots(figsize=(max(8, len(states) * 0.3), 4))
    ax.bar(states, acc, color=["#2a7" if a >= 90 else "#d84" for a in acc])
    for i, s in enumerate(states):
        ax.text(i, acc[i] + 1, str(by_state[s][1]), ha="center", fontsize=7, color="black")
    ax.set_ylim(0, 108)
    ax.set_ylabel("exact plate accuracy (%)")
    ax.set_title("Accuracy by state (number of crops on each bar)")
    ax.tick_params(axis="x", labelrotation=90, labelsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="accuracy on labelled crops or annotated photos")
    p.add_argument("kind", choices=["crops", "photos"])
    p.add_argument("dir", type=Path)
    p.add_argument("--json", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--plot",
        type=Path,
        default=Path("accuracy-by-state.png"),
        help="crops: where to save the accuracy-by-state chart",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        raise SystemExit(f"alpr eval: no such directory: {args.dir}")
    reader = PlateReader(ReaderConfig(num_threads=args.threads))
    if args.kind == "crops":
        if not (args.dir / "labels.csv").is_file():
            raise SystemExit(f"alpr eval crops: {args.dir}/labels.csv not found (file,state,plate)")
        summary, by_state = eval_crops(reader, args.dir)
        plot_by_state(by_state, args.plot)
        summary["plot"] = str(args.plot)
    else:
        summary = eval_photos(reader, args.dir)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"{args.kind}: {summary['n']} plates")
        print(
            f"  exact plate accuracy     {100 * summary['exact']:.1f} %"
            f"   (O/0 and I/1 merged: {100 * summary['exact_o0_i1_merged']:.1f} %)"
        )
        print(f"  character accuracy       {100 * summary['char_accuracy']:.1f} %")
        if "detection_recall_iou50" in summary:
            print(f"  detection recall IoU>=.5 {100 * summary['detection_recall_iou50']:.1f} %")
        print(
            f"  ms per image             median {summary['median_ms']:.2f}, p95 {summary['p95_ms']:.2f}"
        )
        if summary["errors"]:
            print(f"  unreadable files         {summary['errors']}")
        if "plot" in summary:
            print(f"  accuracy by state        {summary['plot']}")
    return 0
