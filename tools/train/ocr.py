"""Train the plate OCR (`alpr train ocr`): CTC over a column CNN, exported as full-int8 TFLite.

Data, per batch: real training crops (and plates cut from training photos), real plates recomposed
with new text from real glyphs, and rendered plates, all through heavy augmentation. The validation
crops and photos (tools.train.data.split) are never trained on; they pick the checkpoint and give
the model card's numbers.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import multiprocessing as mp
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from gateway.reader.ocr import ALPHABET, INPUT_H, INPUT_W, MAX_CHARS, decode, preprocess
from tools.train import data as dev
from tools.train.glyphs import Segmented, segment
from tools.train.plates import GlyphBank, augment, compose, render
from tools.train.tflite import to_int8

log = logging.getLogger("alpr.train.ocr")
COLUMNS = INPUT_W // 4
# shares of each source; corrections, when given, take their share out of the first draws
MIX = {"real": 0.2, "photo": 0.2, "compose": 0.35, "render": 0.25, "corrections": 0.15}
# the shipped model's mix (2026-11-22): real crops and photo plates, composed, rendered; no
# jittered photo cuts, no localiser cuts, no plates-world photos
SHIPPED_MIX = {"real": 0.35, "photo": 0.0, "compose": 0.4, "render": 0.25, "corrections": 0.15}
RECIPES = {"levers": MIX, "shipped": SHIPPED_MIX}


@dataclass(frozen=True)
class TrainItems:
    """Development items a run may train on; `held_out_*` are only logged, never chosen on."""

    crops: list[dev.Crop]
    photos: list[dev.Photo]
    held_out_crops: list[dev.Crop]
    held_out_photos: list[dev.Photo]


def photo_plate(photo: dev.Photo, margin: float = 0.0) -> np.ndarray:
    img = cv2.imread(str(photo.path))
    x, y, w, h = photo.box
    mx, my = int(w * margin), int(h * margin)
    return img[max(0, y - my) : y + h + my, max(0, x - mx) : x + w + mx]


def real_plates(items: list[dev.Crop | dev.Photo]) -> list[tuple[np.ndarray, str]]:
    out = []
    for item in items:
        img = photo_plate(item, 0.15) if isinstance(item, dev.Photo) else cv2.imread(str(item.path))
        if img is not None and 0 < len(item.plate) <= MAX_CHARS:
            out.append((img, item.plate))
    return out


@dataclass(frozen=True)
class PhotoPlate:
    """A plate with the photo around it, so each sample can cut it with a different box."""

    region: np.ndarray
    box: tuple[int, int, int, int]  # the annotated box inside `region`
    text: str


def photo_regions(photos: list[dev.Photo]) -> list[PhotoPlate]:
    """The annotated plate of each photo with half a plate of context on every side."""
    out = []
    for p in photos:
        img = cv2.imread(str(p.path))
        if img is None or not 0 < len(p.plate) <= MAX_CHARS:
            continue
        x, y, w, h = p.box
        x0, y0 = max(0, x - w // 2), max(0, y - h)
        x1, y1 = min(img.shape[1], x + w + w // 2), min(img.shape[0], y + h + h)
        out.append(PhotoPlate(img[y0:y1, x0:x1].copy(), (x - x0, y - y0, w, h), p.plate))
    return out


def localiser_cuts(photos: list[dev.Photo]) -> list[tuple[np.ndarray, str]]:
    """Plates cut as the reader cuts them: the localiser's boxes that overlap the annotation."""
    from gateway.reader.localiser import PlateLocaliser
    from gateway.reader.reader import ReaderConfig, expand
    from tools.train.evaluate import iou

    finder = PlateLocaliser(ReaderConfig().localiser_model, 1, 4)
    mx, my = ReaderConfig().crop_margins[0]
    out = []
    for p in photos:
        img = cv2.imread(str(p.path))
        if img is None or not 0 < len(p.plate) <= MAX_CHARS:
            continue
        for c in finder.find(img):
            if iou(c.box, p.box) >= 0.3:
                x, y, w, h = expand(c.box, img.shape, mx, my)
                if w >= 8 and h >= 4:
                    out.append((img[y : y + h, x : x + w].copy(), p.plate))
    return out


def jitter_cut(plate: PhotoPlate, rng: random.Random) -> np.ndarray:
    """The plate cut with a box as loose, tight or shifted as a localiser's."""
    x, y, w, h = plate.box
    rh, rw = plate.region.shape[:2]
    x0 = int(np.clip(x - w * rng.uniform(-0.08, 0.25), 0, rw - 2))
    x1 = int(np.clip(x + w + w * rng.uniform(-0.08, 0.25), x0 + 2, rw))
    y0 = int(np.clip(y - h * rng.uniform(-0.1, 0.45), 0, rh - 2))
    y1 = int(np.clip(y + h + h * rng.uniform(-0.1, 0.45), y0 + 2, rh))
    return plate.region[y0:y1, x0:x1]


def load_corrections(folder: Path) -> list[tuple[np.ndarray, str]]:
    """Officers' corrections: `labels.csv` (file,plate) and the stored plate crops beside it."""
    labels = folder / "labels.csv"
    if not labels.is_file():
        raise SystemExit(f"alpr train ocr: {labels} not found (file,plate)")
    out = []
    with open(labels, newline="") as f:
        for row in csv.DictReader(f):
            img = cv2.imread(str(folder / row["file"]))
            text = row["plate"].strip().upper()
            if img is not None and 0 < len(text) <= MAX_CHARS:
                out.append((img, text))
    return out


_STATE: dict[str, object] = {}


def _init_worker(
    reals: list[tuple[np.ndarray, str]],
    segs: list[Segmented],
    photos: list[PhotoPlate],
    corrections: list[tuple[np.ndarray, str]],
    mix: dict[str, float] | None = None,
) -> None:
    _STATE.update(reals=reals, segs=segs, bank=GlyphBank.build(segs), photos=photos)
    _STATE["corrections"] = corrections
    _STATE["mix"] = mix or MIX
    cv2.setNumThreads(1)


def _make_chunk(args: tuple[int, int]) -> tuple[np.ndarray, list[str]]:
    """`n` augmented samples from one seed: the unit of work of a generator process."""
    seed, n = args
    rng = random.Random(seed)
    reals = _STATE["reals"]
    segs = _STATE["segs"]
    bank = _STATE["bank"]
    photos = _STATE["photos"]
    corrections = _STATE["corrections"]
    mix = _STATE.get("mix", MIX)
    assert isinstance(reals, list) and isinstance(segs, list) and isinstance(bank, GlyphBank)
    assert isinstance(photos, list) and isinstance(corrections, list) and isinstance(mix, dict)
    # without photo regions, or without segmented plates to compose, those shares go to the
    # real plates as they are
    photo = mix["photo"] if photos else 0.0
    composed = mix["compose"] if segs else 0.0
    real_end = mix["real"] + (mix["photo"] - photo) + (mix["compose"] - composed)
    photo_end = real_end + photo
    compose_end = photo_end + composed
    xs = np.empty((n, INPUT_H, INPUT_W), np.uint8)
    texts = []
    for i in range(n):
        r = rng.random()
        if corrections and r < mix["corrections"]:
            img, text = rng.choice(corrections)
        elif r < real_end:
            img, text = rng.choice(reals)
        elif r < photo_end:
            plate = rng.choice(photos)
            img, text = jitter_cut(plate, rng), plate.text
        elif r < compose_end:
            k = rng.randrange(len(segs))
            img, text = compose(segs[k], k, bank, rng)
        else:
            img, text = render(rng)
        xs[i] = augment(img, rng)
        texts.append(text)
    return xs, texts


def encode_labels(texts: list[str]) -> np.ndarray:
    """(n, 1 + MAX_CHARS): the length, then class ids (1-based), zero-padded."""
    y = np.zeros((len(texts), 1 + MAX_CHARS), np.int32)
    for i, t in enumerate(texts):
        y[i, 0] = len(t)
        y[i, 1 : 1 + len(t)] = [ALPHABET.index(c) + 1 for c in t]
    return y


def build_model(width: float = 1.0, batch_norm: bool = True):  # type: ignore[no-untyped-def]
    """The OCR network; without batch norm it has the shape of the exported int8 model (folded)."""
    import keras
    from keras import layers

    def block(x, filters, kernel=(3, 3), padding="same"):  # type: ignore[no-untyped-def]
        x = layers.Conv2D(int(filters * width), kernel, padding=padding, use_bias=not batch_norm)(x)
        if batch_norm:
            x = layers.BatchNormalization()(x)
        return layers.ReLU()(x)

    inp = keras.Input((INPUT_H, INPUT_W, 1), name="plate")
    x = block(inp, 16)
    x = layers.MaxPooling2D(2)(x)  # 32 x 64
    x = block(x, 32)
    x = layers.MaxPooling2D(2)(x)  # 16 x 32
    x = block(x, 64)
    x = block(x, 64)
    x = layers.MaxPooling2D((2, 1))(x)  # 8 x 32
    x = block(x, 96)
    x = block(x, 96)
    x = layers.MaxPooling2D((2, 1))(x)  # 4 x 32
    x = block(x, 192, kernel=(4, 1), padding="valid")  # 1 x 32: one feature column per slot
    x = layers.Dropout(0.25)(x)
    x = block(x, 192, kernel=(1, 5))  # context from neighbouring slots
    x = layers.Dropout(0.25)(x)
    x = layers.Conv2D(len(ALPHABET) + 1, 1)(x)
    logits = layers.Reshape((COLUMNS, len(ALPHABET) + 1), name="logits")(x)
    return keras.Model(inp, logits)


def from_tflite(path: Path):  # type: ignore[no-untyped-def]
    """A float Keras model with the weights of an exported int8 OCR (batch norm folded away).

    The shipped model exists only as int8 TFLite; dequantizing its convolutions gives a float model
    that reads as it does, to fine-tune from (`--resume ocr.tflite`).
    """
    from gateway.reader.runtime import _interpreter_class

    it = _interpreter_class()(model_path=str(path))
    it.allocate_tensors()
    details = {d["index"]: d for d in it.get_tensor_details()}
    convs = [o for o in it._get_ops_details() if o["op_name"] == "CONV_2D"]
    model = build_model(batch_norm=False)
    layers = [layer for layer in model.layers if layer.__class__.__name__ == "Conv2D"]
    if len(layers) != len(convs):
        raise SystemExit(f"{path}: {len(convs)} convolutions, expected {len(layers)}")
    for layer, op in zip(layers, convs, strict=True):
        _, w_i, b_i = (int(i) for i in op["inputs"])
        wq = details[w_i]["quantization_parameters"]
        bq = details[b_i]["quantization_parameters"]
        w = it.get_tensor(w_i).astype(np.float32)
        w = (w - wq["zero_points"].reshape(-1, 1, 1, 1)) * wq["scales"].reshape(-1, 1, 1, 1)
        b = it.get_tensor(b_i).astype(np.float32) * bq["scales"]
        if w.shape[1:] != layer.kernel.shape[:3] or w.shape[0] != layer.kernel.shape[3]:
            raise SystemExit(f"{path}: weights {w.shape} do not fit {layer.kernel.shape}")
        layer.set_weights([w.transpose(1, 2, 3, 0), b])
    return model


def every_minute(start: float, seen: int, deadline: float):  # type: ignore[no-untyped-def]
    """A Keras callback that logs the loss about once a minute inside a long round, and ends
    the round at the deadline (on a busy machine one round can take many minutes)."""
    import keras

    class Logger(keras.callbacks.Callback):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.last = time.monotonic()
            self.batches = 0

        def on_train_batch_end(self, batch: int, logs: dict[str, float] | None = None) -> None:
            now = time.monotonic()
            self.batches = batch + 1
            if now >= deadline:
                self.model.stop_training = True
            if now - self.last >= 60:
                self.last = now
                log.info(
                    "  %.1f min  batch %d  samples %d  loss %.3f",
                    (now - start) / 60,
                    batch + 1,
                    seen + 64 * (batch + 1),
                    (logs or {}).get("loss", float("nan")),
                )

    return Logger()


def ctc_loss(y_true, logits):  # type: ignore[no-untyped-def]
    import keras

    lengths = keras.ops.cast(y_true[:, 0], "int32")
    labels = keras.ops.cast(y_true[:, 1:], "int32")
    batch = keras.ops.shape(logits)[0]
    out_len = keras.ops.full((batch,), COLUMNS, dtype="int32")
    return keras.ops.ctc_loss(labels, logits, lengths, out_len, mask_index=0)


def evaluate(predict, plates: list[tuple[np.ndarray, str]]) -> dict[str, float]:  # type: ignore[no-untyped-def]
    if not plates:
        return {"exact": float("nan"), "n": 0}
    x = np.stack([preprocess(img) for img, _ in plates]).astype(np.float32)[..., None] / 255
    probs = np.asarray(predict(x))
    texts = [decode(p).text for p in probs]
    exact = sum(t == label for t, (_, label) in zip(texts, plates, strict=True))
    return {"exact": exact / len(plates), "n": len(plates)}


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def export_int8(model, out: Path, calibration: np.ndarray) -> None:  # type: ignore[no-untyped-def]
    import keras
    import tensorflow as tf

    probs = keras.layers.Softmax(name="probs")(model.output)
    infer = keras.Model(model.input, probs)

    def representative():  # type: ignore[no-untyped-def]
        for i in range(min(300, len(calibration))):
            yield [calibration[i : i + 1]]

    out.write_bytes(to_int8(tf.lite.TFLiteConverter.from_keras_model(infer), representative))


def train(
    out: Path,
    seed: int = 0,
    minutes: float = 40.0,
    width: float = 1.0,
    threads: int = 1,
    workers: int = 1,
    chunk: int = 512,
    resume: Path | None = None,
    lr: float = 1e-3,
    fold: int = 0,
    use_world: bool = True,
    corrections: Path | None = None,
    recipe: str = "levers",
    items: TrainItems | None = None,
    samples: int | None = None,
) -> dict[str, object]:
    """Train for `minutes` of wall-clock time, or for `samples` samples when given (the same
    schedule however busy the machine is); writes ocr.tflite, ocr.json and ocr.keras to `out`.

    Development fold `fold` (tools.train.data.folds) is never trained on. Its figures are logged
    as training goes, but the model kept is the last one, so they stay an honest measure.
    `items` replaces the fold split with explicit training items (cross-validation passes no
    held-out items at all). `recipe` "shipped" is the shipped model's data mix: real crops and
    photo plates, composed and rendered plates, without plates-world or localiser cuts.
    """
    out.mkdir(parents=True, exist_ok=True)
    if recipe not in RECIPES:
        raise SystemExit(f"alpr train ocr: unknown recipe {recipe!r} (one of {sorted(RECIPES)})")
    mix = RECIPES[recipe]
    levers = recipe == "levers"

    if items is None:
        crops, photos = dev.load_crops(), dev.load_photos()
        assignment = dev.folds([*crops, *photos])
        crops_train, crops_val = dev.fold_split(crops, fold, assignment)
        photos_train, photos_val = dev.fold_split(photos, fold, assignment)
    else:
        crops_train, photos_train = items.crops, items.photos
        crops_val, photos_val = items.held_out_crops, items.held_out_photos
    reals = real_plates([*crops_train, *photos_train])
    segs = [s for img, text in reals if (s := segment(img, text)) is not None]
    world = dev.load_world() if use_world and levers else []
    regions = photo_regions([*photos_train, *world]) if levers else []
    cuts = localiser_cuts([*photos_train, *world]) if levers else []
    reals += cuts
    fixes = load_corrections(corrections) if corrections else []
    val_crops = real_plates(list(crops_val))
    val_photos = real_plates(list(photos_val))
    log.info(
        "%s recipe, fold %s held out; train: %d real plates (%d localiser cuts), %d segmented, %d photo plates,"
        " %d corrections; held out (logged only): %d crops, %d photos",
        recipe,
        fold if items is None else "-",
        len(reals),
        len(cuts),
        len(segs),
        len(regions),
        len(fixes),
        len(val_crops),
        len(val_photos),
    )

    # spawned, not forked: a fork after OpenCV or TensorFlow started their thread pools can deadlock
    pool = mp.get_context("spawn").Pool(
        workers, initializer=_init_worker, initargs=(reals, segs, regions, fixes, mix)
    )
    seeds = iter(range(seed * 10_000_000, seed * 10_000_000 + 10_000_000))
    pending = [pool.apply_async(_make_chunk, ((next(seeds), chunk),)) for _ in range(workers * 2)]

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(seed)
    if resume is not None and resume.suffix == ".tflite":
        model = from_tflite(resume)
    elif resume is not None:
        model = keras.models.load_model(resume, compile=False)
    else:
        model = build_model(width)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=ctc_loss)
    predict = tf.function(lambda x: tf.nn.softmax(model(x, training=False)))

    pool_x: list[np.ndarray] = []
    pool_y: list[str] = []
    keep = 40_000  # samples kept in memory and replayed while fresh ones are generated

    start = time.monotonic()
    deadline = start + minutes * 60 if samples is None else float("inf")
    best: dict[str, float] = {}
    history = []
    epoch = 0
    seen = 0

    def done_fraction() -> float:
        if samples is not None:
            return seen / samples
        return (time.monotonic() - start) / (minutes * 60)

    while done_fraction() < 1.0 or epoch == 0:  # at least one round
        while pending and pending[0].ready():
            xs, ts = pending.pop(0).get()
            pool_x.append(xs)
            pool_y.extend(ts)
            pending.append(pool.apply_async(_make_chunk, ((next(seeds), chunk),)))
        if not pool_x:
            time.sleep(0.5)
            continue
        x_all = np.concatenate(pool_x)[-keep:]
        y_all = pool_y[-keep:]
        pool_x, pool_y = [x_all], list(y_all)
        n = min(len(y_all), 8192)
        if samples is not None:  # the last round stops at the budget
            n = max(1, min(n, samples - seen))
        idx = np.random.default_rng(seed + epoch).choice(len(y_all), n, replace=False)
        x = x_all[idx].astype(np.float32)[..., None] / 255
        y = encode_labels([y_all[i] for i in idx])
        step_lr = lr * 0.5 * (1 + np.cos(np.pi * min(1.0, done_fraction()))) + 2e-5
        model.optimizer.learning_rate.assign(step_lr)
        progress = every_minute(start, seen, deadline)
        hist = model.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[progress])
        seen += min(n, 64 * progress.batches)
        epoch += 1
        val = evaluate(predict, val_crops)
        valp = evaluate(predict, val_photos)
        rate = seen / (time.monotonic() - start)
        history.append(
            {
                "step": epoch,
                "seen": seen,
                "loss": float(hist.history["loss"][-1]),
                "val_crops": val["exact"],
                "val_photos": valp["exact"],
            }
        )
        log.info(
            "round %d  seen %d (%.0f/s)  loss %.3f  lr %.5f  val crops %.1f %%  val photos %.1f %%  pool %d",
            epoch,
            seen,
            rate,
            history[-1]["loss"],
            step_lr,
            100 * val["exact"],
            100 * valp["exact"],
            len(y_all),
        )
        best = {"held_out_crops": val["exact"], "held_out_photos": valp["exact"], "round": epoch}
        model.save(out / "ocr.keras")
    pool.terminate()
    if epoch == 0:
        raise SystemExit(f"alpr train ocr: no training round finished in {minutes} minutes")
    elapsed = (time.monotonic() - start) / 60

    model = keras.models.load_model(out / "ocr.keras", compile=False)
    # export_int8 uses the first 300 as its representative set: make only those
    calib = np.stack(
        [augment(img, random.Random(i)) for i, (img, _) in enumerate((reals * 2)[:300])]
    )
    export_int8(model, out / "ocr.tflite", calib.astype(np.float32)[..., None] / 255)
    meta = {
        "model": "ocr.tflite",
        "date": dt.date.today().isoformat(),
        "seed": seed,
        "minutes": minutes if samples is None else round(elapsed, 1),
        "samples": samples,
        "width": width,
        "input": [INPUT_H, INPUT_W, 1],
        "columns": COLUMNS,
        "alphabet": ALPHABET,
        "samples_seen": seen,
        "mix": mix,
        "recipe": recipe,
        "train_real_plates": len(reals),
        "segmented": len(segs),
        "fold": fold if items is None else None,
        "world": bool(world),
        "corrections": len(fixes),
        "last": best,
        "history": history[-20:],
    }
    (out / "ocr.json").write_text(json.dumps(meta, indent=2))
    return meta


def fold_arg(text: str) -> int | None:
    """A held-out fold, or None for 'all' (no fold held out)."""
    if text == "all":
        return None
    if text.isdigit() and int(text) < dev.FOLDS:
        return int(text)
    raise argparse.ArgumentTypeError(f"not a fold: {text!r} (0-{dev.FOLDS - 1} or 'all')")


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"not a positive whole number: {text!r}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="alpr train ocr", description=__doc__)
    p.add_argument("--out", type=Path, default=Path("build/ocr"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--minutes", type=float, default=40.0)
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--resume", type=Path, help="continue from a saved ocr.keras")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (cosine decay)")
    p.add_argument(
        "--fold",
        type=fold_arg,
        default=0,
        help="fold held out (0-4), or 'all' to train on every fold: a model to ship, measured"
        " only by `alpr train cv` of its recipe",
    )
    p.add_argument(
        "--samples", type=positive_int, help="train for this many samples instead of --minutes"
    )
    p.add_argument("--recipe", choices=sorted(RECIPES), default="levers", help="the data mix")
    p.add_argument("--no-world", action="store_true", help="leave out the plates-world photos")
    p.add_argument(
        "--corrections", type=Path, help="officers' corrections folder (labels.csv + crops)"
    )
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    items = None
    if a.fold is None:
        items = TrainItems(dev.load_crops(), dev.load_photos(), [], [])
    meta = train(
        a.out,
        a.seed,
        a.minutes,
        a.width,
        a.threads,
        a.workers,
        resume=a.resume,
        lr=a.lr,
        fold=a.fold or 0,
        use_world=not a.no_world,
        corrections=a.corrections,
        recipe=a.recipe,
        items=items,
        samples=a.samples,
    )
    if items is not None:  # every fold trained on: `alpr eval` marks them all TRAINED ON
        path = a.out / "ocr.json"
        meta = {**json.loads(path.read_text()), "fold": "all", "checkpoint": "last"}
        path.write_text(json.dumps(meta, indent=2))
    log.info("last: %s", meta["last"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
