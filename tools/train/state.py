"""Train the state-of-issuance classifier (`alpr train state`) and measure it by cross-validation.

Numpy only (no TensorFlow): a multinomial logistic regression over gateway.reader.state.features,
fitted by full-batch Adam with L2. The threshold for naming a state is chosen so that, on
predictions made for plates the model never saw, the named states are right at least
`--precision` of the time. The cross-validated figures are nested: each test fold's threshold is
chosen on the other folds only, so the reported precision and coverage are honest.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gateway.reader.ocr import PlateOCR
from gateway.reader.state import DEFAULT_MODEL, features
from tools.train import data as dev

log = logging.getLogger("alpr.train.state")


@dataclass
class Fitted:
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: np.ndarray
    states: list[str]

    def probabilities(self, x: np.ndarray) -> np.ndarray:
        z = ((x - self.mean) / self.scale) @ self.weights + self.bias
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return np.asarray(e / e.sum(axis=1, keepdims=True))


def fit(x: np.ndarray, labels: list[str], l2: float = 3e-3, steps: int = 400) -> Fitted:
    """Multinomial logistic regression by full-batch Adam (a few hundred samples: seconds)."""
    states = sorted(set(labels))
    y = np.array([states.index(s) for s in labels])
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-3
    xs = (x - mean) / scale
    n, d = xs.shape
    w = np.zeros((d, len(states)), np.float64)
    b = np.zeros(len(states), np.float64)
    onehot = np.eye(len(states))[y]
    mw, vw, mb, vb = np.zeros_like(w), np.zeros_like(w), np.zeros_like(b), np.zeros_like(b)
    lr, b1, b2 = 0.02, 0.9, 0.999
    for t in range(1, steps + 1):
        z = xs @ w + b
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        g = (p - onehot) / n
        gw, gb = xs.T @ g + l2 * w, g.sum(axis=0)
        mw, vw = b1 * mw + (1 - b1) * gw, b2 * vw + (1 - b2) * gw * gw
        mb, vb = b1 * mb + (1 - b1) * gb, b2 * vb + (1 - b2) * gb * gb
        corr = np.sqrt(1 - b2**t) / (1 - b1**t)
        w -= lr * corr * mw / (np.sqrt(vw) + 1e-8)
        b -= lr * corr * mb / (np.sqrt(vb) + 1e-8)
    return Fitted(mean, scale, w.astype(np.float32), b.astype(np.float32), states)


def threshold_for(conf: np.ndarray, right: np.ndarray, precision: float) -> float:
    """The lowest confidence above which named states are right at least `precision` of the time."""
    order = np.argsort(-conf)
    hits = np.cumsum(right[order])
    prec = hits / np.arange(1, len(order) + 1)
    ok = np.nonzero(prec >= precision)[0]
    if len(ok) == 0:
        return 1.01  # never name a state
    # the largest prefix that keeps the precision, so the threshold is its last confidence
    return float(conf[order][ok.max()])


def out_of_fold(
    x: np.ndarray, labels: list[str], fold_of: np.ndarray, folds: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, right) for each sample in `folds`, each predicted by a model not fitted on it."""
    conf = np.zeros(len(labels))
    right = np.zeros(len(labels), bool)
    for k in folds:
        tr = np.isin(fold_of, [f for f in folds if f != k])
        te = fold_of == k
        model = fit(x[tr], [labels[i] for i in np.nonzero(tr)[0]])
        p = model.probabilities(x[te])
        conf[te] = p.max(axis=1)
        guess = [model.states[j] for j in p.argmax(axis=1)]
        right[te] = [g == labels[i] for g, i in zip(guess, np.nonzero(te)[0], strict=True)]
    mask = np.isin(fold_of, folds)
    return conf[mask], right[mask]


def dataset(
    root: Path | None = None, ocr_model: str | None = None
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Features of every development crop, states, folds.

    The read text comes from the shipped OCR, or with `ocr_model` holding `{fold}`, from the
    model that never saw the crop's fold (`alpr train cv`'s): the pattern features then carry
    the OCR's real errors on new plates, not its near-perfect reads of its own training crops.
    """
    crops = dev.load_crops(root)
    assignment = dev.all_folds(root)
    readers: dict[int, PlateOCR] = {}

    def ocr_for(fold: int) -> PlateOCR:
        if fold not in readers:
            path = ocr_model.format(fold=fold) if ocr_model else None
            readers[fold] = PlateOCR(path) if path else PlateOCR()
        return readers[fold]

    rows, labels, fold_of = [], [], []
    for c in crops:
        img = cv2.imread(str(c.path))
        if img is None:
            continue
        rows.append(features(img, ocr_for(assignment[c.path]).read(img).text))
        labels.append(c.state)
        fold_of.append(assignment[c.path])
    return np.stack(rows), labels, np.array(fold_of)


def cross_validate(
    x: np.ndarray, labels: list[str], fold_of: np.ndarray, precision: float
) -> dict[str, object]:
    """Nested 5-fold figures: per test fold, the threshold comes from the other four folds."""
    per_fold = []
    for k in range(dev.FOLDS):
        inner = [f for f in range(dev.FOLDS) if f != k]
        c_in, r_in = out_of_fold(x, labels, fold_of, inner)
        thr = threshold_for(c_in, r_in, precision)
        tr = fold_of != k
        model = fit(x[tr], [labels[i] for i in np.nonzero(tr)[0]])
        p = model.probabilities(x[fold_of == k])
        named = p.max(axis=1) >= thr
        truth = [labels[i] for i in np.nonzero(fold_of == k)[0]]
        right = np.array(
            [model.states[j] == t for j, t in zip(p.argmax(axis=1), truth, strict=True)]
        )
        per_fold.append(
            {
                "fold": k,
                "n": len(truth),
                "threshold": thr,
                "coverage": float(named.mean()),
                "precision": float(right[named].mean()) if named.any() else None,
                "top1": float(right.mean()),
            }
        )
        log.info("fold %d: %s", k, per_fold[-1])
    named_total = sum(f["coverage"] * f["n"] for f in per_fold)  # type: ignore[operator]
    right_total = sum(
        (f["precision"] or 0) * f["coverage"] * f["n"]  # type: ignore[operator]
        for f in per_fold
    )
    covs = np.array([f["coverage"] for f in per_fold], float)
    precs = np.array([f["precision"] for f in per_fold if f["precision"] is not None], float)
    return {
        "folds": per_fold,
        "precision_pooled": right_total / max(1.0, named_total),
        "precision_mean": float(precs.mean()) if len(precs) else None,
        "precision_sd": float(precs.std()) if len(precs) else None,
        "coverage_mean": float(covs.mean()),
        "coverage_sd": float(covs.std()),
        "top1_mean": float(np.mean([f["top1"] for f in per_fold])),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="alpr train state", description=__doc__)
    p.add_argument("--out", type=Path, default=DEFAULT_MODEL.parent / "state-new.npz")
    p.add_argument("--precision", type=float, default=0.92, help="target precision of named states")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--ocr-model",
        help="OCR that reads each crop for the pattern features; with {fold}, the one that never"
        " saw that fold (e.g. 'build/cv/f{fold}/ocr.tflite'); default the shipped OCR",
    )
    a = p.parse_args(argv)
    if a.ocr_model:
        missing = [
            path for k in range(dev.FOLDS) if not Path(path := a.ocr_model.format(fold=k)).is_file()
        ]
        if missing:
            raise SystemExit(f"alpr train state: no OCR model at {', '.join(missing)}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    x, labels, fold_of = dataset(ocr_model=a.ocr_model)
    cv = cross_validate(x, labels, fold_of, a.precision)
    # the shipped threshold: from out-of-fold predictions over all five folds
    conf, right = out_of_fold(x, labels, fold_of, list(range(dev.FOLDS)))
    thr = threshold_for(conf, right, a.precision)
    model = fit(x, labels)
    np.savez_compressed(
        a.out,
        mean=model.mean,
        scale=model.scale,
        weights=model.weights,
        bias=model.bias,
        states=np.array(model.states),
        threshold=np.float32(thr),
    )
    (a.out.with_suffix(".json")).write_text(json.dumps({"threshold": thr, "cv": cv}, indent=2))
    if a.json:
        print(json.dumps(cv))
    else:
        print(
            f"state, 5-fold by plate: precision {100 * cv['precision_pooled']:.1f} % of named"  # type: ignore[operator]
            f" (per fold mean {cv['precision_mean']}, sd {cv['precision_sd']}),"
            f" coverage {100 * cv['coverage_mean']:.1f} % +- {100 * cv['coverage_sd']:.1f},"  # type: ignore[operator]
            f" top-1 {100 * cv['top1_mean']:.1f} %"  # type: ignore[operator]
        )
        print(f"shipped threshold {thr:.3f} -> {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
