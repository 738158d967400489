"""Train the plate localiser: a small CenterNet-style heat-map network, exported as int8 TFLite.

Trains on the TRAIN photos only (tools.train.data.split), cut into random windows around and
away from the annotated plate at random scales, plus synthetic composites: TRAIN plate crops
perspective-warped and pasted into the windows, so the network sees many more plates than the
89 annotated ones. Single-threaded by design (the build box is shared).

    python -m tools.train.detector --out gateway/reader/models --seed 0 --minutes 35
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse
import datetime
import json
import math
import random
import time
from pathlib import Path

import cv2
import numpy as np

from gateway.reader.localiser import (
    OFFSET_RANGE,
    PAD_VALUE,
    STRIDE,
    TARGET_PLATE_PX,
    encode_size,
)
from tools.train.data import data_dir, load_crops, load_photos, split
from tools.train.tflite import to_int8

INPUT_W, INPUT_H = 448, 256  # the exported network's input (grey)
TRAIN_SIZE = 224  # square training windows; the network is fully convolutional
MIN_PX, MAX_PX = 12.0, 240.0  # plate widths (network pixels) trained on

cv2.setNumThreads(1)


# ---------------------------------------------------------------------------------------------
# data


def sample_plate_px(rng: np.random.Generator) -> float:
    """Mostly near the trained target size, with a long tail to very small and very big plates."""
    if rng.random() < 0.6:
        return float(np.clip(TARGET_PLATE_PX * math.exp(rng.normal(0, 0.35)), MIN_PX, MAX_PX))
    return float(math.exp(rng.uniform(math.log(MIN_PX), math.log(MAX_PX))))


class Sampler:
    """Random training windows with their plate boxes (x, y, w, h in window pixels)."""

    def __init__(self, photos: list, crops: list, rng: np.random.Generator) -> None:
        self.rng = rng
        self.photos = [(cv2.imread(str(p.path), cv2.IMREAD_GRAYSCALE), p.box) for p in photos]
        self.crops = [cv2.imread(str(c.path), cv2.IMREAD_GRAYSCALE) for c in crops]

    def window(self, size: int) -> tuple[np.ndarray, list[tuple[float, float, float, float]]]:
        rng = self.rng
        img, (bx, by, bw, bh) = self.photos[rng.integers(len(self.photos))]
        ih, iw = img.shape
        target = sample_plate_px(rng)
        scale = target / bw
        scale *= math.exp(rng.normal(0, 0.05))
        aspect = math.exp(rng.normal(0, 0.08))  # slight anisotropic stretch
        sx, sy = scale * aspect, scale / aspect
        pcx, pcy = (bx + bw / 2) * sx, (by + bh / 2) * sy
        if rng.random() < 0.75:  # plate somewhere in the window
            ox = pcx - rng.uniform(0.1, 0.9) * size
            oy = pcy - rng.uniform(0.1, 0.9) * size
        else:  # anywhere (mostly away from the plate), edges of the photo included
            ox = rng.uniform(-0.3 * size, max(-0.2 * size, iw * sx - 0.7 * size))
            oy = rng.uniform(-0.3 * size, max(-0.2 * size, ih * sy - 0.7 * size))
        angle = rng.normal(0, 3.0) if rng.random() < 0.5 else 0.0
        m = np.array([[sx, 0, -ox], [0, sy, -oy]], np.float64)
        if angle:
            r = cv2.getRotationMatrix2D((size / 2, size / 2), angle, 1.0)
            m = np.vstack([r, [0, 0, 1]])[:2] @ np.vstack([m, [0, 0, 1]])
        src, mw = img, m
        if scale < 0.7:  # warpAffine has no area filter: pre-shrink to avoid aliasing
            f = min(1.0, scale * 1.5)
            src = cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
            mw = m @ np.array([[1 / f, 0, 0], [0, 1 / f, 0], [0, 0, 1]])
        win = cv2.warpAffine(
            src,
            mw,
            (size, size),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=PAD_VALUE,
        )
        corners = np.array(
            [[bx, by, 1], [bx + bw, by, 1], [bx, by + bh, 1], [bx + bw, by + bh, 1]], np.float64
        )
        pc = corners @ m.T
        boxes = [_edge_box(pc[[0, 1, 3, 2]])]
        n_paste = rng.choice([0, 1, 1, 2, 3]) if rng.random() < 0.7 else 0
        for _ in range(n_paste):
            self.paste(win, boxes, target)
        return win, boxes

    def paste(self, win: np.ndarray, boxes: list, target: float) -> None:
        """A perspective-warped TRAIN crop at a free spot in the window."""
        rng = self.rng
        size = win.shape[0]
        crop = self.crops[rng.integers(len(self.crops))]
        w = float(np.clip(target * math.exp(rng.normal(0, 0.4)), MIN_PX, MAX_PX * 0.8))
        h = w * crop.shape[0] / crop.shape[1] * math.exp(rng.normal(0, 0.08))
        for _ in range(10):
            cx = rng.uniform(-0.1 * w, size + 0.1 * w)
            cy = rng.uniform(-0.1 * h, size + 0.1 * h)
            cand = (cx - w / 2, cy - h / 2, w, h)
            if all(_overlap(cand, b) == 0 for b in boxes):
                break
        else:
            return
        jit = rng.normal(0, 0.06, (4, 2)) * np.array([w, h])
        dst = (
            np.array(
                [
                    [cx - w / 2, cy - h / 2],
                    [cx + w / 2, cy - h / 2],
                    [cx + w / 2, cy + h / 2],
                    [cx - w / 2, cy + h / 2],
                ]
            )
            + jit
        )
        ang = math.radians(rng.normal(0, 5))
        rot = np.array([[math.cos(ang), -math.sin(ang)], [math.sin(ang), math.cos(ang)]])
        dst = (dst - [cx, cy]) @ rot.T + [cx, cy]
        f = min(1.0, 1.5 * w / crop.shape[1])
        small = cv2.resize(crop, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)
        sh, sw = small.shape
        srcq = np.array([[0, 0], [sw, 0], [sw, sh], [0, sh]], np.float32)
        pm = cv2.getPerspectiveTransform(srcq, dst.astype(np.float32))
        warped = cv2.warpPerspective(small, pm, (size, size), flags=cv2.INTER_LINEAR)
        mask = (
            cv2.warpPerspective(
                np.full((sh, sw), 255, np.uint8), pm, (size, size), flags=cv2.INTER_LINEAR
            ).astype(np.float32)
            / 255.0
        )
        gain, bias = rng.uniform(0.4, 1.1), rng.uniform(-30, 30)
        plate = warped.astype(np.float32) * gain + bias
        if rng.random() < 0.5:
            plate = cv2.GaussianBlur(plate, (0, 0), rng.uniform(0.3, 1.2))
        out = win.astype(np.float32) * (1 - mask) + plate * mask
        win[:] = np.clip(out, 0, 255).astype(np.uint8)
        boxes.append(_edge_box(dst))


def _edge_box(quad: np.ndarray) -> tuple[float, float, float, float]:
    """Box of a tilted plate quad (tl, tr, br, bl) from its mean edge lengths, not its hull.

    The photo annotations are upright plate-sized boxes; the hull of a rotated or
    perspective-jittered quad would teach the network taller boxes than the annotators draw.
    """
    tl, tr, br, bl = quad
    w = (np.linalg.norm(tr - tl) + np.linalg.norm(br - bl)) / 2
    h = (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr)) / 2
    cx, cy = quad.mean(axis=0)
    return (float(cx - w / 2), float(cy - h / 2), float(w), float(h))


def _overlap(a: tuple, b: tuple) -> float:
    iw = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    ih = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0.0, iw + 4) * max(0.0, ih + 4)


def photometric(win: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Brightness, contrast, gamma, blur, noise and JPEG, as cheap single-threaded OpenCV."""
    x = win.astype(np.float32) / 255.0
    if rng.random() < 0.8:
        x = np.clip(x, 0, 1) ** math.exp(rng.normal(0, 0.35))
    if rng.random() < 0.8:
        x = (x - 0.5) * rng.uniform(0.5, 1.5) + 0.5 + rng.uniform(-0.2, 0.2)
    if rng.random() < 0.3:
        x = cv2.GaussianBlur(x, (0, 0), rng.uniform(0.4, 1.5))
    if rng.random() < 0.4:
        x = x + rng.normal(0, rng.uniform(0.005, 0.05), x.shape).astype(np.float32)
    out = np.clip(x * 255.0, 0, 255).astype(np.uint8)
    if rng.random() < 0.3:
        _ok, enc = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(25, 90))])
        out = cv2.imdecode(enc, cv2.IMREAD_GRAYSCALE)
    return out


def make_target(boxes: list, size: int) -> np.ndarray:
    """Per output cell: heat, regression mask, log2 w, log2 h, dx, dy (encoded as the runtime)."""
    g = size // STRIDE
    t = np.zeros((g, g, 6), np.float32)
    yy, xx = np.mgrid[0:g, 0:g].astype(np.float32) + 0.5
    for x, y, w, h in boxes:
        cx, cy = (x + w / 2) / STRIDE, (y + h / 2) / STRIDE
        if not (0 <= cx < g and 0 <= cy < g):
            continue
        sx, sy = max(0.7, w / STRIDE / 6), max(0.6, h / STRIDE / 6)
        gauss = np.exp(-((xx - cx) ** 2) / (2 * sx**2) - ((yy - cy) ** 2) / (2 * sy**2))
        ci, cj = int(cy), int(cx)
        gauss[ci, cj] = 1.0
        t[:, :, 0] = np.maximum(t[:, :, 0], gauss)
        near = np.zeros((g, g), bool)  # regress only next to the peak, where decode reads it
        near[max(0, ci - 1) : ci + 2, max(0, cj - 1) : cj + 2] = True
        reg = near & (gauss >= 0.5)
        t[reg, 1] = 1.0
        t[reg, 2] = encode_size(w)
        t[reg, 3] = encode_size(h)
        t[reg, 4] = (cx - xx[reg]) / OFFSET_RANGE + 0.5
        t[reg, 5] = (cy - yy[reg]) / OFFSET_RANGE + 0.5
    return t


def batch(sampler: Sampler, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for _ in range(n):
        win, boxes = sampler.window(size)
        win = photometric(win, sampler.rng)
        if sampler.rng.random() < 0.5:
            win = win[:, ::-1].copy()
            boxes = [(size - x - w, y, w, h) for x, y, w, h in boxes]
        xs.append(win)
        ys.append(make_target(boxes, size))
    return np.stack(xs)[..., None].astype(np.float32) / 255.0, np.stack(ys)


# ---------------------------------------------------------------------------------------------
# model


def build_model(h: int | None = None, w: int | None = None):
    import keras
    from keras import layers

    def cbr(x, ch, k=3, s=1):
        x = layers.Conv2D(ch, k, strides=s, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        return layers.ReLU(6.0)(x)

    def dws(x, ch, s=1):
        y = layers.DepthwiseConv2D(3, strides=s, padding="same", use_bias=False)(x)
        y = layers.BatchNormalization()(y)
        y = layers.ReLU(6.0)(y)
        y = layers.Conv2D(ch, 1, use_bias=False)(y)
        y = layers.BatchNormalization()(y)
        if s == 1 and x.shape[-1] == ch:
            return layers.ReLU(6.0)(layers.Add()([x, y]))
        return layers.ReLU(6.0)(y)

    inp = keras.Input((h, w, 1))
    x = cbr(inp, 16, s=2)  # /2
    x = cbr(x, 24, s=2)  # /4
    c4 = dws(x, 32)
    x = dws(c4, 48, s=2)  # /8
    c8 = dws(x, 48)
    x = dws(c8, 64, s=2)  # /16
    x = dws(x, 64)
    c16 = dws(x, 64)
    x = dws(c16, 96, s=2)  # /32
    x = dws(x, 96)
    c32 = dws(x, 96)
    y = cbr(c32, 48, k=1)
    y = layers.UpSampling2D(2)(y)
    y = layers.Add()([y, cbr(c16, 48, k=1)])
    y = dws(y, 48)
    y = layers.UpSampling2D(2)(y)
    y = layers.Add()([y, cbr(c8, 48, k=1)])
    y = dws(y, 32)
    y = layers.UpSampling2D(2)(y)
    y = layers.Add()([y, cbr(c4, 32, k=1)])
    y = dws(y, 32)
    y = cbr(y, 32)
    heat = layers.Conv2D(
        1,
        1,
        activation="sigmoid",
        bias_initializer=keras.initializers.Constant(-4.0),
    )(y)
    reg = layers.Conv2D(  # start at a mid-size plate, centred in its cell
        4, 1, bias_initializer=keras.initializers.Constant([0.6, 0.5, 0.5, 0.5])
    )(y)
    out = layers.Concatenate()([heat, reg])
    return keras.Model(inp, out)


def loss_fn(y_true, y_pred):
    import tensorflow as tf

    gt, mask = y_true[..., 0], y_true[..., 1]
    p = tf.clip_by_value(y_pred[..., 0], 1e-4, 1 - 1e-4)
    pos = tf.cast(gt >= 1.0, tf.float32)
    pos_loss = -tf.math.log(p) * (1 - p) ** 2 * pos
    neg_loss = -tf.math.log(1 - p) * p**2 * (1 - gt) ** 4 * (1 - pos)
    npos = tf.maximum(tf.reduce_sum(pos), 1.0)
    focal = (tf.reduce_sum(pos_loss) + tf.reduce_sum(neg_loss)) / npos
    nreg = tf.maximum(tf.reduce_sum(mask), 1.0)
    size_l = tf.reduce_sum(tf.abs(y_pred[..., 1:3] - y_true[..., 2:4]) * mask[..., None]) / nreg
    off_l = tf.reduce_sum(tf.abs(y_pred[..., 3:5] - y_true[..., 4:6]) * mask[..., None]) / nreg
    return focal + 10.0 * size_l + 4.0 * off_l, focal, size_l, off_l


# ---------------------------------------------------------------------------------------------
# export and evaluation


def letterbox_photo(img: np.ndarray) -> np.ndarray:
    from gateway.reader.localiser import letterbox

    s = min(INPUT_W / img.shape[1], INPUT_H / img.shape[0], 1.5)
    return letterbox(img, s, (INPUT_W, INPUT_H))


def export_tflite(model, sampler: Sampler, path: Path, rng: np.random.Generator) -> None:
    import tensorflow as tf

    fixed = build_model(INPUT_H, INPUT_W)
    fixed.set_weights(model.get_weights())

    reps = [letterbox_photo(img) for img, _ in sampler.photos]
    for _ in range(100):  # windows with pasted plates, placed in a letterboxed canvas
        win, _b = sampler.window(TRAIN_SIZE)
        canvas = np.full((INPUT_H, INPUT_W), PAD_VALUE, np.uint8)
        canvas[: min(INPUT_H, TRAIN_SIZE), :TRAIN_SIZE] = win[:INPUT_H]
        reps.append(photometric(canvas, rng))

    def rep_data():
        for r in reps:
            yield [r[None, :, :, None].astype(np.float32) / 255.0]

    import tempfile

    with tempfile.TemporaryDirectory() as tmp:  # SavedModel freezes the variables for calibration
        fixed.export(tmp, format="tf_saved_model", verbose=False)
        path.write_bytes(to_int8(tf.lite.TFLiteConverter.from_saved_model(tmp), rep_data))


def iou(a: tuple, b: tuple) -> float:
    iw = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def evaluate(model_path: Path, photos: list) -> dict:
    """Recall at IoU >= 0.5 (top-1, top-5) and find() timing with the shipped runtime."""
    from gateway.reader.localiser import PlateLocaliser

    loc = PlateLocaliser(model_path, num_threads=1)
    top1 = top5 = 0
    ms = []
    for p in photos:
        img = cv2.imread(str(p.path))
        t0 = time.perf_counter()
        cands = loc.find(img)
        ms.append((time.perf_counter() - t0) * 1000)
        ious = [iou(c.box, p.box) for c in cands]
        top1 += bool(ious) and ious[0] >= 0.5
        top5 += any(v >= 0.5 for v in ious[:5])
    n = max(1, len(photos))
    return {
        "recall_top1": top1 / n,
        "recall_top5": top5 / n,
        "n": len(photos),
        "median_ms": float(np.median(ms)) if ms else 0.0,
    }


# ---------------------------------------------------------------------------------------------
# training


def train(out: Path, seed: int = 0, minutes: float = 30.0, data: Path | None = None) -> dict:
    """Train for a wall-clock budget, export int8 localiser.tflite and localiser.json to out."""
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)

    root = data or data_dir()
    train_photos, val_photos = split(load_photos(root))
    train_crops, _ = split(load_crops(root))
    sampler = Sampler(train_photos, train_crops, rng)
    print(f"train photos {len(train_photos)}, train crops {len(train_crops)}", flush=True)

    model = build_model()
    opt = keras.optimizers.Adam(learning_rate=2e-3)
    bs = 16

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            pred = model(x, training=True)
            total, focal, size_l, off_l = loss_fn(y, pred)
        grads = tape.gradient(total, model.trainable_variables)
        opt.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return total, focal, size_l, off_l

    budget = minutes * 60.0
    t_start = time.time()
    n = 0
    hist = np.zeros(4)
    t_data = 0.0
    while True:
        frac = (time.time() - t_start) / budget
        if frac >= 1.0:
            break
        warm = min(1.0, (n + 1) / 100)
        opt.learning_rate.assign(2e-3 * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac))))
        td = time.time()
        x, y = batch(sampler, bs, TRAIN_SIZE)
        t_data += time.time() - td
        vals = step(tf.constant(x), tf.constant(y))
        hist += np.array([float(v) for v in vals])
        n += 1
        if n % 50 == 0:
            h = hist / 50
            hist[:] = 0
            print(
                f"step {n} {time.time() - t_start:6.0f}s lr {float(opt.learning_rate):.5f} "
                f"loss {h[0]:.3f} focal {h[1]:.3f} size {h[2]:.4f} off {h[3]:.4f} "
                f"data {t_data / n * 1000:.0f}ms/batch",
                flush=True,
            )

    out.mkdir(parents=True, exist_ok=True)
    model.save(out / "localiser.keras")  # for fine-tuning and re-export; not shipped
    tfl = out / "localiser.tflite"
    export_tflite(model, sampler, tfl, rng)
    metrics = evaluate(tfl, val_photos)
    meta = {
        "seed": seed,
        "minutes": minutes,
        "steps": n,
        "batch": bs,
        "train_window": TRAIN_SIZE,
        "input": {"width": INPUT_W, "height": INPUT_H, "channels": 1, "dtype": "int8"},
        "stride": STRIDE,
        "target_plate_px": TARGET_PLATE_PX,
        "train_photos": len(train_photos),
        "train_crops": len(train_crops),
        "validation": metrics,
        "size_bytes": tfl.stat().st_size,
        "date": datetime.date.today().isoformat(),
    }
    (out / "localiser.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(json.dumps(meta, indent=2), flush=True)
    return meta


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("gateway/reader/models"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--data", type=Path, default=None)
    a = ap.parse_args()
    train(a.out, a.seed, a.minutes, a.data)


if __name__ == "__main__":
    main()
