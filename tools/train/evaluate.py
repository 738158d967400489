"""`alpr eval crops|photos DIR`: accuracy of the reader on labelled plates.

Whole-plate accuracy is strict (exact upper-case match) and counts only the best read: a photo is
right when `plates[0]` equals its annotation. Reading it among any of the reads, and with O/0 and
I/1 merged, are printed beside it, never instead of it.

`--folds` restricts the data to the given cross-validation folds (tools.train.data.folds, by plate)
and reports each fold, then the mean and spread across them. `--ocr-model` may name one model per
fold with `{fold}` in the path, so models trained with `alpr train ocr --fold K` are each measured
on the fold they never saw. The shipped OCR saw every fold in training, so no fold is honest for
it (its figures are its recipe's, from `alpr train cv`), and the report says so.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from gateway.hotlist import Matcher
from gateway.reader import ocr as ocr_module
from gateway.reader.images import ImageError, load
from gateway.reader.reader import PlateRead, PlateReader, ReaderConfig
from tools.train import data as dev

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
    """Running totals of the accuracy figures; `best` is the read the gateway acts on."""

    def __init__(self) -> None:
        self.n = 0
        self.strict = 0
        self.any_read = 0
        self.loose = 0
        self.chars = 0
        self.char_total = 0
        self.ms: list[float] = []
        self.errors: list[str] = []
        self.scored: list[tuple[float, bool]] = []  # (confidence, right) of each best read

    def add(self, label: str, reads: list[PlateRead], ms: float) -> bool:
        """Count one labelled plate; correct only when the best read equals the label."""
        self.n += 1
        self.ms.append(ms)
        best = reads[0].text if reads else ""
        ok = best == label
        self.strict += ok
        self.any_read += label in {r.text for r in reads}
        self.loose += merged(best) == merged(label)
        self.chars += max(0, len(label) - edit_distance(best, label))
        self.char_total += len(label)
        if reads:
            self.scored.append((reads[0].confidence, ok))
        return ok

    def summary(self, alert_confidence: float) -> dict[str, Any]:
        ms = np.array(self.ms or [0.0])
        alerting = [ok for conf, ok in self.scored if conf >= alert_confidence]
        return {
            "n": self.n,
            "exact": self.strict / max(1, self.n),
            "exact_any_read": self.any_read / max(1, self.n),
            "exact_o0_i1_merged": self.loose / max(1, self.n),
            "char_accuracy": self.chars / max(1, self.char_total),
            "alert_confidence": alert_confidence,
            "reads_at_alert_confidence": len(alerting),
            "precision_at_alert_confidence": sum(alerting) / max(1, len(alerting)),
            "median_ms": float(np.median(ms)),
            "p95_ms": float(np.percentile(ms, 95)),
            "errors": len(self.errors),
        }


def eval_crops(
    reader: PlateReader, crops: list[dev.Crop], tally: Tally, by_state: dict[str, list[int]]
) -> None:
    """Read each crop whole (no localiser), as `alpr read --crop` does."""
    for i, crop in enumerate(crops, 1):
        try:
            img = load(crop.path)
        except ImageError as exc:
            tally.errors.append(str(exc))
            continue
        start = time.perf_counter()
        reads = reader.read_crop_plates(img)
        ok = tally.add(crop.plate, reads, (time.perf_counter() - start) * 1000)
        by_state[crop.state][0] += ok
        by_state[crop.state][1] += 1
        if i % PROGRESS_EVERY == 0:
            log.info(
                "%d/%d crops, %.1f %% exact so far", i, len(crops), 100 * tally.strict / tally.n
            )


def random_plates(n: int, like: list[str], seed: int = 0) -> list[str]:
    """n random plates with the letter/digit patterns of real ones (denser than uniform text)."""
    rng = random.Random(seed)
    patterns = ["".join("L" if c.isalpha() else "D" for c in p) for p in like if p] or ["LLLDDDD"]
    letters, digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "0123456789"
    return [
        "".join(rng.choice(letters if c == "L" else digits) for c in rng.choice(patterns))
        for _ in range(n)
    ]


class HotlistCheck:
    """The gateway's own Matcher over the true plates among `n` random entries."""

    def __init__(self, truths: list[str], n: int, seed: int = 0) -> None:
        entries: list[tuple[int, str, str]] = [
            (i, p, "2999-01-01") for i, p in enumerate(random_plates(n, truths, seed))
        ]
        self.true_ids = {p: len(entries) + i for i, p in enumerate(sorted(set(truths)))}
        entries += [(i, p, "2999-01-01") for p, i in self.true_ids.items()]
        self.matcher = Matcher(entries)
        self.n = n
        self.found = 0
        self.total = 0
        self.reads = 0
        self.false_hits = 0

    def add(self, label: str, reads: list[PlateRead]) -> None:
        """Match the best read (the one the gateway stores) with its alternates and state."""
        self.total += 1
        if not reads:
            return
        best = reads[0]
        self.reads += 1
        hits = self.matcher.match(best.text, [t for t, _ in best.alternates], state=best.state)
        true_id = self.true_ids[label]
        self.found += any(m.entry_id == true_id for m in hits)
        self.false_hits += sum(m.entry_id != true_id for m in hits)

    def summary(self) -> dict[str, Any]:
        return {
            "hotlist_entries": self.n,
            "hotlist_recall": self.found / max(1, self.total),
            "false_hits_per_1000_reads": 1000 * self.false_hits / max(1, self.reads),
        }


def eval_photos(
    reader: PlateReader, photos: list[dev.Photo], tally: Tally, hotlist: HotlistCheck | None
) -> int:
    """Read each photo end to end; returns how many had a localiser box at IoU >= 0.5."""
    found = 0
    for i, photo in enumerate(photos, 1):
        try:
            img = load(photo.path)
        except ImageError as exc:
            tally.errors.append(str(exc))
            continue
        start = time.perf_counter()
        plates, candidates = reader.read_detailed(img)
        tally.add(photo.plate, plates, (time.perf_counter() - start) * 1000)
        if hotlist is not None:
            hotlist.add(photo.plate, plates)
        found += any(iou(c, photo.box) >= 0.5 for c in candidates)
        if i % PROGRESS_EVERY == 0:
            log.info(
                "%d/%d photos, %.1f %% exact so far", i, len(photos), 100 * tally.strict / tally.n
            )
    return found


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


def reliability(scored: list[tuple[float, bool]], bins: int = 10) -> list[dict[str, float]]:
    """Accuracy of the best reads in equal-width confidence bins (empty bins left out)."""
    rows = []
    for b in range(bins):
        lo, hi = b / bins, (b + 1) / bins
        inside = [ok for c, ok in scored if lo <= c < hi or (b == bins - 1 and c == 1.0)]
        if inside:
            rows.append(
                {"low": lo, "high": hi, "n": len(inside), "accuracy": sum(inside) / len(inside)}
            )
    return rows


def plot_reliability(curves: dict[str, list[dict[str, float]]], out: Path) -> None:
    """Confidence against accuracy: a calibrated reader lies on the diagonal."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="#999", linestyle="--", label="calibrated")
    for name, rows in curves.items():
        xs = [(r["low"] + r["high"]) / 2 for r in rows]
        ax.plot(xs, [r["accuracy"] for r in rows], marker="o", label=name)
        for x, r in zip(xs, rows, strict=True):
            ax.annotate(
                str(int(r["n"])),
                (x, r["accuracy"]),
                fontsize=7,
                xytext=(3, -10),
                textcoords="offset points",
            )
    ax.set_xlabel("confidence of the best read")
    ax.set_ylabel("share exactly right")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_title("Reliability (number of reads at each point)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def parse_folds(text: str) -> list[int]:
    """`0`, `0,2` or `0-4`."""
    out: set[int] = set()
    try:
        for part in text.split(","):
            lo, _, hi = part.partition("-")
            out.update(range(int(lo), int(hi or lo) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"folds: expected e.g. 0 or 0,2 or 0-4, got {text!r}"
        ) from None
    if not out or min(out) < 0 or max(out) >= dev.FOLDS:
        raise argparse.ArgumentTypeError(f"folds: each must be 0-{dev.FOLDS - 1}, got {text!r}")
    return sorted(out)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("eval", help="accuracy on labelled crops or annotated photos")
    p.add_argument("kind", choices=["crops", "photos"])
    p.add_argument("dir", type=Path, help="crops/ (labels.csv) or photos/ (NAME.txt beside each)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument(
        "--folds",
        type=parse_folds,
        help="only these cross-validation folds (by plate), each reported apart: e.g. 0 or 0-4",
    )
    p.add_argument(
        "--ocr-model", help="OCR model to measure (default: the shipped one); {fold} per fold"
    )
    p.add_argument("--compare", help="a second OCR model ({fold} allowed), measured beside it")
    p.add_argument(
        "--hotlist-entries",
        type=int,
        default=1_000_000,
        help="photos: random hot-list entries around the true plates (default 1,000,000)",
    )
    p.add_argument(
        "--plot",
        type=Path,
        default=Path("accuracy-by-state.png"),
        help="crops: where to save the accuracy-by-state chart",
    )
    p.add_argument(
        "--reliability",
        type=Path,
        default=Path("reliability.png"),
        help="where to save the confidence-versus-accuracy chart",
    )
    p.set_defaults(func=run)


def items_of(kind: str, folder: Path) -> list[dev.Crop] | list[dev.Photo]:
    if kind == "crops":
        if not (folder / "labels.csv").is_file():
            raise SystemExit(f"alpr eval crops: {folder}/labels.csv not found (file,state,plate)")
        return dev.load_crops(folder, folder="")
    return dev.load_photos(folder, folder="")


def fold_assignment(folder: Path) -> dict[Path, int]:
    """Folds over the whole development set beside `folder` (crops and photos together)."""
    root = folder.parent
    if (root / "crops" / "labels.csv").is_file() and (root / "photos").is_dir():
        return dev.all_folds(root)
    raise SystemExit(f"alpr eval --folds: {root} has no crops/labels.csv and photos/ to fold")


def unseen_by_training(model: Path, fold: int | None) -> bool | None:
    """Whether `fold` was held out when `model` was trained; None when that is not recorded.

    A model from `alpr train ocr --fold K` records K in the ocr.json beside it, and one trained
    on every fold records "all". A shipped OCR without the key was trained on every fold but 0.
    """
    if fold is None:
        return None
    meta = model.with_suffix(".json")
    try:
        held_out = json.loads(meta.read_text()).get("fold")
    except (OSError, ValueError):
        return None
    if held_out is None and model == ocr_module.DEFAULT_MODEL:
        held_out = 0
    return None if held_out is None else held_out == fold


def evaluate_model(
    args: argparse.Namespace, model: str | None, folds: list[int | None], items: list[Any]
) -> dict[str, Any]:
    """Per-fold summaries (fold None: all items) and, with several folds, mean and spread."""
    assignment = fold_assignment(args.dir) if folds != [None] else {}
    per_fold: list[dict[str, Any]] = []
    scored: list[tuple[float, bool]] = []
    by_state: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for fold in folds:
        path = Path(model.format(fold=fold)) if model else ocr_module.DEFAULT_MODEL
        if not path.is_file():
            raise SystemExit(f"alpr eval: OCR model not found: {path}")
        reader = PlateReader(ReaderConfig(ocr_model=path, num_threads=args.threads))
        chosen = [i for i in items if fold is None or assignment.get(i.path) == fold]
        tally = Tally()
        if args.kind == "crops":
            eval_crops(reader, chosen, tally, by_state)
            summary = tally.summary(reader.config.min_confidence)
        else:
            hot = HotlistCheck([p.plate for p in chosen], args.hotlist_entries)
            found = eval_photos(reader, chosen, tally, hot)
            summary = tally.summary(reader.config.min_confidence)
            summary.update(hot.summary())
            summary["detection_recall_iou50"] = found / max(1, tally.n)
        summary["fold"] = fold
        summary["ocr_model"] = str(path)
        summary["unseen_by_training"] = unseen_by_training(path, fold)
        per_fold.append(summary)
        scored += tally.scored
    result: dict[str, Any] = {"folds": per_fold, "reliability": reliability(scored)}
    if args.kind == "crops":
        result["by_state"] = dict(by_state)
    if len(per_fold) > 1:
        keys = [
            k for k, v in per_fold[0].items() if isinstance(v, float) and k != "alert_confidence"
        ]
        result["mean"] = {k: statistics.fmean(f[k] for f in per_fold) for k in keys}
        result["sd"] = {k: statistics.stdev(f[k] for f in per_fold) for k in keys}
    return result


def show(name: str, result: dict[str, Any]) -> None:
    rows = [
        ("exact, best read", "exact"),
        ("exact, any read", "exact_any_read"),
        ("O/0 and I/1 merged", "exact_o0_i1_merged"),
        ("character accuracy", "char_accuracy"),
        ("precision at alert conf.", "precision_at_alert_confidence"),
        ("hot-list recall", "hotlist_recall"),
        ("detection recall IoU>=.5", "detection_recall_iou50"),
    ]
    print(f"{name}")
    for f in result["folds"]:
        label = "all" if f["fold"] is None else f"fold {f['fold']}"
        note = ""
        if f["unseen_by_training"] is False:
            note = "  (TRAINED ON by this model: not an honest figure)"
        elif f["unseen_by_training"] is None and f["fold"] is not None:
            note = "  (no record of which fold this model held out)"
        print(f"  {label}: {f['n']} plates, model {f['ocr_model']}{note}")
        for title, key in rows:
            if key in f:
                print(f"    {title:<26} {100 * f[key]:6.1f} %")
        if "false_hits_per_1000_reads" in f:
            print(
                f"    {'false hits per 1000 reads':<26} {f['false_hits_per_1000_reads']:6.1f}"
                f"   ({f['hotlist_entries']:,} random entries)"
            )
        print(
            f"    {'reads at alert conf.':<26} {f['reads_at_alert_confidence']:6d}"
            f"   (confidence >= {f['alert_confidence']})"
        )
        print(f"    {'ms per image':<26} median {f['median_ms']:.2f}, p95 {f['p95_ms']:.2f}")
        if f["errors"]:
            print(f"    {'unreadable files':<26} {f['errors']}")
    if "mean" in result:
        dishonest = sum(f["unseen_by_training"] is False for f in result["folds"])
        warning = f"; {dishonest} of them TRAINED ON: not an honest figure" if dishonest else ""
        print(f"  across {len(result['folds'])} folds (mean +- sd{warning}):")
        for title, key in rows:
            if key in result["mean"]:
                print(
                    f"    {title:<26} {100 * result['mean'][key]:6.1f} % +- {100 * result['sd'][key]:.1f}"
                )


def run(args: argparse.Namespace) -> int:
    if not args.dir.is_dir():
        raise SystemExit(f"alpr eval: no such directory: {args.dir}")
    if args.hotlist_entries < 0:
        raise SystemExit("alpr eval: --hotlist-entries must be >= 0")
    items = items_of(args.kind, args.dir)
    folds: list[int | None] = list(args.folds) if args.folds else [None]
    results = {"model": evaluate_model(args, args.ocr_model, folds, items)}
    if args.compare:
        results["compare"] = evaluate_model(args, args.compare, folds, items)
    curves = {
        name: r["reliability"]
        for name, r in zip(
            [args.ocr_model or "shipped", args.compare or ""], results.values(), strict=False
        )
    }
    plot_reliability(curves, args.reliability)
    if args.kind == "crops":
        plot_by_state(results["model"]["by_state"], args.plot)
    if args.json:
        print(json.dumps({**results, "reliability_plot": str(args.reliability)}))
        return 0
    show(args.ocr_model or "shipped OCR", results["model"])
    if "compare" in results:
        show(args.compare, results["compare"])
    print(f"reliability chart: {args.reliability}")
    if args.kind == "crops":
        print(f"accuracy by state: {args.plot}")
    return 0
