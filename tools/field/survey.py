"""`alpr survey`: prove on site that a camera reads, and propose its reader hints.

Each test capture is read without hints, then measured: character size in pixels, plate angle,
sharpness, exposure, glare and read confidence, each against a siting rule (README, "Siting rules").
"""

from __future__ import annotations

import argparse
import base64
import html
import json
import re
import statistics
import sys
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from gateway import protocol
from gateway.config import ConfigError, load
from gateway.reader.images import ImageError, decode
from gateway.reader.reader import PlateReader, ReaderHints, expand
from tools.errors import UserError
from tools.ops import auth
from tools.train.glyphs import segment

# Siting rules: (measure, pass when ..., why). Sources in the README.
MIN_CHAR_HEIGHT_PX = 16.0
MAX_ANGLE_DEG = 20.0
MIN_SHARPNESS = 60.0
EXPOSURE_RANGE = (50.0, 225.0)
MAX_GLARE = 0.30
MIN_CONFIDENCE = 0.7
MIN_PASS_SHARE = 0.8  # a camera passes when this share of its captures pass every rule


@dataclass
class Capture:
    name: str
    text: str
    confidence: float
    box: tuple[int, int, int, int] | None
    char_height_px: float
    char_width_px: float
    angle_deg: float
    sharpness: float
    exposure: float
    glare: float
    failures: list[str]

    @property
    def passed(self) -> bool:
        return not self.failures


def measure(name: str, image: np.ndarray, reader: PlateReader) -> Capture:
    """Read one capture without hints and measure its plate against the siting rules."""
    reads = reader.read(image)
    if not reads:
        return Capture(name, "", 0.0, None, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, ["no plate read"])
    best = reads[0]
    x, y, w, h = expand(best.box, image.shape, 0.06, 0.12)
    crop = image[y : y + h, x : x + w]
    grey = cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY)
    seg = segment(crop, best.text)
    if seg is not None:  # real character boxes, scaled back to the camera's pixels
        scale = crop.shape[0] / seg.image.shape[0]
        char_h = float(np.median([b[3] for b in seg.boxes])) * scale
        char_w = float(np.median([b[2] for b in seg.boxes])) * scale
        centres = np.array([(bx + bw / 2, by + bh / 2) for bx, by, bw, bh in seg.boxes])
        slope = np.polyfit(centres[:, 0], centres[:, 1], 1)[0] if len(centres) >= 2 else 0.0
        angle = float(np.degrees(np.arctan(slope)))
    else:  # US characters are about 45 % of the plate's height
        char_h, char_w, angle = 0.45 * best.box[3], 0.2 * best.box[3], 0.0
    norm = cv2.resize(grey, (128, 64), interpolation=cv2.INTER_AREA)
    sharpness = float(cv2.Laplacian(norm, cv2.CV_64F).var())
    exposure = float(grey.mean())
    glare = float((grey >= 250).mean())
    failures = []
    if char_h < MIN_CHAR_HEIGHT_PX:
        failures.append(f"characters {char_h:.0f} px high (< {MIN_CHAR_HEIGHT_PX:.0f})")
    if abs(angle) > MAX_ANGLE_DEG:
        failures.append(f"plate tilted {angle:.0f} degrees (> {MAX_ANGLE_DEG:.0f})")
    if sharpness < MIN_SHARPNESS:
        failures.append(f"blurred (sharpness {sharpness:.0f} < {MIN_SHARPNESS:.0f})")
    if not EXPOSURE_RANGE[0] <= exposure <= EXPOSURE_RANGE[1]:
        failures.append(
            f"exposure {exposure:.0f} outside {EXPOSURE_RANGE[0]:.0f}-{EXPOSURE_RANGE[1]:.0f}"
        )
    if glare > MAX_GLARE:
        failures.append(f"glare on {100 * glare:.0f} % of the plate (> {100 * MAX_GLARE:.0f} %)")
    if best.confidence < MIN_CONFIDENCE:
        failures.append(f"read confidence {best.confidence:.2f} (< {MIN_CONFIDENCE})")
    return Capture(
        name,
        best.text,
        best.confidence,
        best.box,
        char_h,
        char_w,
        angle,
        sharpness,
        exposure,
        glare,
        failures,
    )


def propose_hints(captures: list[Capture], frame_shape: tuple[int, ...]) -> ReaderHints | None:
    """A region of interest around every plate seen (with room to spare) and the median plate width."""
    boxes = [c.box for c in captures if c.box is not None and c.text]
    if not boxes:
        return None
    widths = [b[2] for b in boxes]
    x0 = min(b[0] for b in boxes) - 2 * max(widths)
    y0 = min(b[1] for b in boxes) - 2 * max(b[3] for b in boxes)
    x1 = max(b[0] + b[2] for b in boxes) + 2 * max(widths)
    y1 = max(b[1] + b[3] for b in boxes) + 2 * max(b[3] for b in boxes)
    h, w = frame_shape[:2]
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(w, x1), min(h, y1)
    return ReaderHints(
        (int(x0), int(y0), int(x1 - x0), int(y1 - y0)), int(statistics.median(widths))
    )


HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?")


def set_hints_text(text: str, camera: str, hints: ReaderHints) -> str:
    """The config text with the camera's [cameras.hints] table replaced; the rest kept line for line."""
    lines = text.splitlines()
    headers = [(i, m.group(1)) for i, line in enumerate(lines) if (m := HEADER.match(line))]
    for k, (start, name) in enumerate(headers):
        if name != "cameras" or not lines[start].lstrip().startswith("[["):
            continue
        end = next((i for i, n in headers[k + 1 :] if not n.startswith("cameras.")), len(lines))
        own = next((i for i, n in headers[k + 1 :] if i < end), end)  # first sub-table, if any
        ids = [
            m.group(1)
            for line in lines[start:own]
            if (m := re.match(r'\s*id\s*=\s*"([^"]+)"', line))
        ]
        if ids != [camera]:
            continue
        block = lines[start:end]
        keep: list[str] = []
        skipping = False
        for line in block:
            m = HEADER.match(line)
            if m:
                skipping = m.group(1) == "cameras.hints"
            if not skipping:
                keep.append(line)
        while keep and not keep[-1].strip():
            keep.pop()
        keep += [
            f"[cameras.hints]  # proposed by alpr survey on {time.strftime('%Y-%m-%d')}",
            f"roi = {list(hints.roi) if hints.roi else []}",
            f"plate_width = {hints.plate_width}",
            "",
        ]
        return "\n".join(lines[:start] + keep + lines[end:]) + "\n"
    raise SystemExit(f"alpr survey: camera {camera!r} not found in the config")


def apply_hints(config_path: Path, camera: str, hints: ReaderHints) -> None:
    """Write the hints into the config; the old file is kept as .bak, and an invalid result is undone."""
    old = config_path.read_text()
    config_path.with_suffix(config_path.suffix + ".bak").write_text(old)
    config_path.write_text(set_hints_text(old, camera, hints))
    try:
        load(config_path)
    except ConfigError as exc:
        config_path.write_text(old)
        raise SystemExit(
            f"alpr survey: the hints made the config invalid ({exc}); left unchanged"
        ) from None


def overlay(image: np.ndarray, c: Capture) -> str:
    """A JPEG data URL of the capture with the plate box, text and verdict drawn on it."""
    img = image.copy()
    colour = (40, 170, 40) if c.passed else (30, 30, 220)
    if c.box:
        x, y, w, h = c.box
        cv2.rectangle(img, (x, y), (x + w, y + h), colour, 3)
        cv2.putText(
            img,
            f"{c.text} {c.confidence:.2f}",
            (x, max(20, y - 10)),
            cv2.FONT_HERSHEY_SIMPLEX,
            1.0,
            colour,
            2,
        )
    scale = 640 / img.shape[1]
    img = cv2.resize(img, (640, int(img.shape[0] * scale)))
    data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])[1].tobytes()
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def write_report(
    path: Path,
    camera: str,
    captures: list[Capture],
    images: list[np.ndarray],
    hints: ReaderHints | None,
    passed: bool,
) -> None:
    rows = []
    for c, img in zip(captures, images, strict=True):
        verdict = "PASS" if c.passed else "FAIL: " + "; ".join(c.failures)
        rows.append(
            f"<tr><td><img src='{overlay(img, c)}' width=320></td><td>{html.escape(c.name)}</td>"
            f"<td>{html.escape(c.text) or '-'}</td><td>{c.confidence:.2f}</td><td>{c.char_height_px:.1f}</td>"
            f"<td>{c.char_width_px:.1f}</td><td>{c.angle_deg:.1f}</td><td>{c.sharpness:.0f}</td>"
            f"<td>{c.exposure:.0f}</td><td>{100 * c.glare:.1f} %</td>"
            f"<td class={'ok' if c.passed else 'bad'}>{html.escape(verdict)}</td></tr>"
        )
    path.write_text(
        "<!doctype html><meta charset='utf-8'><title>Survey " + html.escape(camera) + "</title>"
        "<style>td{border:1px solid #ccc;padding:4px}.ok{color:#1a7f1a}.bad{color:#b00}</style>"
        f"<h1>Site survey: camera {html.escape(camera)}: {'PASS' if passed else 'FAIL'}</h1>"
        f"<p>{time.strftime('%Y-%m-%d %H:%M')}; proposed hints: {html.escape(str(hints))}</p>"
        "<table><tr><th>capture</th><th>file</th><th>read</th><th>confidence</th><th>char h px</th>"
        "<th>char w px</th><th>angle</th><th>sharpness</th><th>exposure</th><th>glare</th><th>verdict</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def fetch_from_gateway(url: str, camera: str, secret: bytes, limit: int) -> list[tuple[str, bytes]]:
    """The camera's latest captures, through the gateway's signed survey endpoint."""
    path = f"{protocol.SURVEY_PATH}?limit={limit}"
    ts = int(time.time())
    headers = protocol.signed_headers(secret, path, camera, ts, 0, b"", method="GET")
    request = urllib.request.Request(url.rstrip("/") + path, headers=headers, method="GET")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace").strip()[:200] or exc.reason
        raise UserError(f"the gateway at {url} answered {exc.code}: {detail}") from None
    except (urllib.error.URLError, OSError) as exc:
        why = getattr(exc, "reason", exc)
        why = getattr(why, "strerror", None) or str(why)
        raise UserError(
            f"cannot reach the gateway at {url}: {why.lower()}; is `alpr gateway serve` running?"
        ) from None
    return [(f"{camera}-seq{c['sequence']}", base64.b64decode(c["jpeg"])) for c in body["captures"]]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "survey", help="test captures of a camera against the siting rules; propose hints"
    )
    p.add_argument("--camera", required=True)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--gateway", help="gateway URL: take the camera's latest captures from it")
    source.add_argument("--images", type=Path, help="a folder of test captures")
    p.add_argument(
        "--config", type=Path, help="deployment config (needed for --gateway and --apply)"
    )
    p.add_argument("--limit", type=int, default=20, help="captures to take from the gateway")
    p.add_argument("--apply", action="store_true", help="write the proposed hints into the config")
    p.add_argument("--report", type=Path, default=Path("survey.html"))
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if (args.apply or args.gateway) and args.config is None:
        raise SystemExit("alpr survey: --config is needed with --gateway and --apply")
    config = None
    if args.config:
        try:
            config = load(args.config)
        except ConfigError as exc:
            raise SystemExit(f"alpr survey: config error: {exc}") from None
        if args.camera not in config.cameras:
            raise SystemExit(f"alpr survey: camera {args.camera!r} is not in {args.config}")
    if args.gateway:
        assert config is not None
        ctx = auth.authorize(args, "survey")  # stored captures: a technician, logged in
        raw = fetch_from_gateway(args.gateway, args.camera, config.secret(args.camera), args.limit)
        what = {"camera": args.camera, "gateway": args.gateway, "limit": args.limit}
        auth.record(ctx, "survey", "view", what, result_count=len(raw))
    else:
        files = sorted(
            f for f in args.images.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png")
        )
        raw = [(f.name, f.read_bytes()) for f in files]
    reader = PlateReader()
    captures, images = [], []
    for name, data in raw:
        try:
            image = decode(data)
        except ImageError as exc:
            print(f"{name}: skipped: {exc}", file=sys.stderr)
            continue
        captures.append(measure(name, image, reader))
        images.append(image)
    if not captures:
        raise SystemExit("alpr survey: no usable captures")
    share = sum(c.passed for c in captures) / len(captures)
    passed = share >= MIN_PASS_SHARE
    hints = propose_hints(captures, images[0].shape)
    write_report(args.report, args.camera, captures, images, hints, passed)
    if args.json:
        for c in captures:
            print(json.dumps({**asdict(c), "passed": c.passed}))
    else:
        print(
            f"{'capture':<28} {'read':<9} {'conf':>5} {'char h':>6} {'char w':>6} {'angle':>6} {'sharp':>6}"
            f" {'expo':>5} {'glare':>6}  verdict"
        )
        for c in captures:
            print(
                f"{c.name[:28]:<28} {c.text or '-':<9} {c.confidence:5.2f} {c.char_height_px:6.1f}"
                f" {c.char_width_px:6.1f} {c.angle_deg:6.1f} {c.sharpness:6.0f} {c.exposure:5.0f}"
                f" {100 * c.glare:5.1f}%  {'pass' if c.passed else 'FAIL: ' + '; '.join(c.failures)}"
            )
    print(
        f"camera {args.camera}: {'PASS' if passed else 'FAIL'} ({100 * share:.0f} % of {len(captures)} "
        f"captures pass every rule; {100 * MIN_PASS_SHARE:.0f} % needed)"
    )
    print(
        f"proposed hints: roi={list(hints.roi) if hints and hints.roi else None} "
        f"plate_width={hints.plate_width if hints else None}"
    )
    print(f"report: {args.report}")
    if args.apply and hints is not None:
        assert args.config is not None
        apply_hints(args.config, args.camera, hints)
        print(f"hints written to {args.config} (previous version kept as .bak)")
    return 0 if passed else 1
