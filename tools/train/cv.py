"""`alpr train cv`: cross-validation of the OCR training recipe over the five folds by plate.

For each fold K the OCR is trained on the other four folds only and then measured on fold K with
`alpr eval`'s own code (crops strict, photos best read and any read, hot-list recall through the
gateway's Matcher). The model kept is the last one: fold K is neither trained on nor looked at
while training, so it cannot choose the checkpoint. The figures measure the recipe at the given
number of minutes (or samples), and the model shipped is that recipe trained on every fold:
`alpr train ocr --fold all --recipe shipped --samples N`.

Photos are read with the shipped localiser, which was trained on the photos of folds 1-4 and
chosen on those of fold 0: the photo figures say so.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.train import data as dev

log = logging.getLogger("alpr.train.cv")
LOCALISER_TRAINED_FOLDS = {1, 2, 3, 4}  # the shipped localiser saw every fold but 0, chosen on 0
KEYS = [
    ("crops", "exact", "crops, strict"),
    ("photos", "exact", "photos, best read"),
    ("photos", "exact_any_read", "photos, any read"),
    ("photos", "hotlist_recall", "hot-list recall"),
]


@dataclass(frozen=True)
class FoldPlan:
    """What one fold's model may train on, and what it is measured on."""

    fold: int
    train_crops: list[dev.Crop]
    train_photos: list[dev.Photo]
    test_crops: list[dev.Crop]
    test_photos: list[dev.Photo]


def plan(crops: list[dev.Crop], photos: list[dev.Photo], fold: int) -> FoldPlan:
    """Fold `fold` for testing, the other four for training; refuses a plate on both sides."""
    assignment = dev.folds([*crops, *photos])
    train_crops, test_crops = dev.fold_split(crops, fold, assignment)
    train_photos, test_photos = dev.fold_split(photos, fold, assignment)
    both = {i.plate for i in [*train_crops, *train_photos]} & {
        i.plate for i in [*test_crops, *test_photos]
    }
    if both:
        raise SystemExit(f"alpr train cv: fold {fold}: plates on both sides: {sorted(both)[:5]}")
    return FoldPlan(fold, train_crops, train_photos, test_crops, test_photos)


def train_fold(
    p: FoldPlan, out: Path, minutes: float, seed: int, samples: int | None = None
) -> Path:
    """Train the OCR with the shipped recipe on the plan's training items only; the last model."""
    from tools.train import ocr

    items = ocr.TrainItems(p.train_crops, p.train_photos, [], [])
    ocr.train(out, seed=seed, minutes=minutes, recipe="shipped", items=items, samples=samples)
    meta_path = out / "ocr.json"
    meta = json.loads(meta_path.read_text())
    meta["fold"] = p.fold  # held out: `alpr eval --folds` marks this fold as never trained on
    meta["checkpoint"] = "last"
    meta["train_crops"] = len(p.train_crops)
    meta["train_photos"] = len(p.train_photos)
    meta_path.write_text(json.dumps(meta, indent=2))
    keras = sys.modules.get("keras")
    if keras is not None:  # a fresh graph for the next fold
        keras.backend.clear_session()
    return out / "ocr.tflite"


def evaluate_fold(model: Path, root: Path, fold: int, hotlist_entries: int) -> dict[str, Any]:
    """`alpr eval crops|photos --folds K --ocr-model MODEL`, as data."""
    from tools.train import evaluate

    out: dict[str, Any] = {}
    for kind in ("crops", "photos"):
        folder = root / kind
        args = argparse.Namespace(kind=kind, dir=folder, threads=1, hotlist_entries=hotlist_entries)
        items = evaluate.items_of(kind, folder)
        result = evaluate.evaluate_model(args, str(model), [fold], items)
        out[kind] = result["folds"][0]
    return out


def summarise(results: dict[int, dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and sample sd across folds of each headline figure."""
    out: dict[str, dict[str, float]] = {}
    for kind, key, title in KEYS:
        values = [r[kind][key] for r in results.values()]
        out[title] = {
            "mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else 0.0,
        }
    return out


def budget(minutes: float, samples: int | None) -> str:
    return f"{samples:,} samples" if samples else f"{minutes:g} minutes"


def report(results: dict[int, dict[str, Any]], length: str) -> str:
    lines = [f"Cross-validation of the OCR recipe at {length} per fold (last model)"]
    head = "  fold  crops            photos best      photos any   hot-list   localiser"
    lines.append(head)
    for k, r in sorted(results.items()):
        c, p = r["crops"], r["photos"]
        note = "trained on these photos" if k in LOCALISER_TRAINED_FOLDS else "chosen on them"
        lines.append(
            f"  {k:>4}  {100 * c['exact']:5.1f} % ({round(c['exact'] * c['n'])}/{c['n']})"
            f"  {100 * p['exact']:5.1f} % ({round(p['exact'] * p['n'])}/{p['n']})"
            f"  {100 * p['exact_any_read']:5.1f} %    {100 * p['hotlist_recall']:5.1f} %    {note}"
        )
    if len(results) > 1:
        lines.append(f"  across {len(results)} folds (mean +- sd):")
        for title, s in summarise(results).items():
            lines.append(f"    {title:<20} {100 * s['mean']:5.1f} % +- {100 * s['sd']:.1f}")
    return "\n".join(lines)


def run_parallel(a: argparse.Namespace, argv: list[str]) -> None:
    """Each fold in its own process (one training thread each), `a.jobs` at a time.

    Every process writes OUT/fK/train.log and OUT/fK/eval.json; the last line of each log is
    repeated here once a minute.
    """
    base = list(argv)
    i = 0
    while i < len(base):  # the fold list and the job count are set per process
        if base[i] in ("--folds", "--jobs"):
            del base[i : i + 2]
        elif base[i].startswith(("--folds=", "--jobs=")):
            del base[i]
        else:
            i += 1
    waiting = list(a.folds)
    running: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
    while waiting or running:
        while waiting and len(running) < a.jobs:
            k = waiting.pop(0)
            logfile = a.out / f"f{k}" / "train.log"
            logfile.parent.mkdir(parents=True, exist_ok=True)
            cmd = [sys.executable, "-m", "tools.cli", "train", "cv", *base, "--folds", str(k)]
            with open(logfile, "wb") as f:
                running[k] = (subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT), logfile)
            log.info("fold %d started (pid %d), log %s", k, running[k][0].pid, logfile)
        time.sleep(60)
        for k, (proc, logfile) in sorted(running.items()):
            text = logfile.read_text(errors="replace").splitlines()
            lines = [ln for ln in text if "alpr.train.ocr" in ln] or [
                ln for ln in text if "alpr." in ln
            ]
            log.info("fold %d: %s", k, lines[-1][:160] if lines else "starting")
            if proc.poll() is not None:
                del running[k]
                if proc.returncode:
                    raise SystemExit(
                        f"alpr train cv: fold {k} failed ({proc.returncode}): {logfile}"
                    )


def main(argv: list[str] | None = None) -> int:
    from tools.train.evaluate import parse_folds

    p = argparse.ArgumentParser(prog="alpr train cv", description=__doc__)
    p.add_argument("--minutes", type=float, default=12.0, help="training minutes per fold")
    p.add_argument(
        "--samples", type=int, help="training samples per fold instead of --minutes (reproducible)"
    )
    p.add_argument("--folds", type=parse_folds, default=list(range(dev.FOLDS)))
    p.add_argument("--out", type=Path, default=Path("build/cv"), help="models go to OUT/fK/")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--data", type=Path, default=None, help="development data (default $ALPR_DATA)")
    p.add_argument("--hotlist-entries", type=int, default=1_000_000)
    p.add_argument("--eval-only", action="store_true", help="measure the models already in OUT/fK/")
    p.add_argument(
        "--jobs", type=int, default=1, help="folds trained at once, each in its own process"
    )
    a = p.parse_args(argv)
    if a.jobs < 1:
        raise SystemExit("alpr train cv: --jobs must be >= 1")
    if a.minutes <= 0:
        raise SystemExit("alpr train cv: --minutes must be > 0")
    if a.samples is not None and a.samples < 1:
        raise SystemExit("alpr train cv: --samples must be >= 1")
    length = budget(a.minutes, a.samples)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    root = a.data or dev.data_dir()
    if not (root / "crops" / "labels.csv").is_file() or not (root / "photos").is_dir():
        raise SystemExit(f"alpr train cv: {root} has no crops/labels.csv and photos/")
    crops, photos = dev.load_crops(root), dev.load_photos(root)
    results: dict[int, dict[str, Any]] = {}
    if a.jobs > 1 and len(a.folds) > 1 and not a.eval_only:
        run_parallel(a, list(sys.argv[1:] if argv is None else argv))
        for fold in a.folds:
            results[fold] = json.loads((a.out / f"f{fold}" / "eval.json").read_text())
    for fold in a.folds if not results else []:
        fp = plan(crops, photos, fold)
        out = a.out / f"f{fold}"
        log.info(
            "fold %d: train on %d crops + %d photos (folds %s), test on %d crops + %d photos",
            fold,
            len(fp.train_crops),
            len(fp.train_photos),
            ",".join(str(k) for k in range(dev.FOLDS) if k != fold),
            len(fp.test_crops),
            len(fp.test_photos),
        )
        start = time.monotonic()
        model = out / "ocr.tflite"
        if not a.eval_only:
            model = train_fold(fp, out, a.minutes, a.seed, a.samples)
        elif not model.is_file():
            raise SystemExit(f"alpr train cv: --eval-only but {model} does not exist")
        results[fold] = evaluate_fold(model, root, fold, a.hotlist_entries)
        (out / "eval.json").write_text(json.dumps(results[fold], indent=2))
        log.info("fold %d done in %.1f min", fold, (time.monotonic() - start) / 60)
        log.info("\n%s", report({fold: results[fold]}, length))
    summary = {
        "minutes": None if a.samples else a.minutes,
        "samples": a.samples,
        "seed": a.seed,
        "recipe": "shipped",
        "checkpoint": "last",
        "folds": results,
        "summary": summarise(results) if results else {},
    }
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "cv.json").write_text(json.dumps(summary, indent=2))
    print(report(results, length))
    print(f"per fold: {a.out}/fK/eval.json; all: {a.out / 'cv.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
