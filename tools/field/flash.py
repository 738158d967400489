"""`alpr flash`: put MicroPython on a camera board with esptool's Python API.

Steps: detect the chip, (erase), write the image at the chip's offset, verify, hard reset, each with
a progress line. An ESP32 image goes at 0x1000 and an ESP32-S3 image at 0x0; a MicroPython build
for one chip refuses to go on the other. `--port socket://...` (the emulated board) has no ROM
bootloader: it is answered with a clear error, since the emulator already runs MicroPython.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

OFFSETS = {"esp32": 0x1000, "esp32s3": 0x0}
DRIVER_RELEASES = "https://github.com/cnadler86/micropython-camera-API/releases"
# The driver project's release images, by the name its build gives each (check the release page)
BUILD_TO_GET = {
    "esp32": "AI-Thinker ESP32-CAM: the AI_THINKER image (built as ESP32_GENERIC-SPIRAM@AI_THINKER)",
    "esp32s3": "ESP32-S3 camera boards: the image named after the board (ESP32S3_EYE, "
    "FREENOVE_ESP32S3_CAM, XIAO_ESP32S3, ...), else ESP32_GENERIC_S3-SPIRAM_OCT with the "
    "camera pins in the site config (camera_pins)",
}
# Names the driver's module registers; MicroPython keeps them as plain text in the image
DRIVER_NAMES = (b"PixelFormat", b"FrameSize", b"jpeg_quality")
CHIP_NAMES = {"ESP32": "esp32", "ESP32-S3": "esp32s3"}


class FlashError(RuntimeError):
    """Flashing could not start or finish; the message says why."""


@dataclass(frozen=True)
class Step:
    name: str
    detail: str


def image_chip(firmware: Path) -> str | None:
    """The chip an image was built for, from its extended header (None if it does not say)."""
    data = firmware.read_bytes()
    offset = 0x1000 if len(data) > 0x1000 and data[0] != 0xE9 and data[0x1000] == 0xE9 else 0
    if len(data) < offset + 24 or data[offset] != 0xE9:
        raise FlashError(f"{firmware}: not an ESP firmware image (no 0xE9 magic byte)")
    chip_id = int.from_bytes(data[offset + 12 : offset + 14], "little")
    return {0: "esp32", 9: "esp32s3"}.get(chip_id)


@dataclass(frozen=True)
class ImageInfo:
    chip: str | None
    camera_driver: bool


def build_hint(chip: str | None) -> str:
    boards = [BUILD_TO_GET[chip]] if chip in BUILD_TO_GET else list(BUILD_TO_GET.values())
    return f"get MicroPython with the camera driver from {DRIVER_RELEASES}: " + "; ".join(boards)


def check_image(firmware: Path) -> ImageInfo:
    """esptool's image-info on the file before anything touches the board: a truncated or
    corrupt image (bad checksum or SHA-256) is refused here, not half-written to flash."""
    from esptool import cmds
    from esptool.util import FatalError

    if not firmware.is_file():
        raise FlashError(f"{firmware}: no such firmware file")
    chip = image_chip(firmware)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            cmds.image_info(str(firmware), chip=chip or "auto")
    except (FatalError, OSError, ValueError) as exc:
        raise FlashError(f"{firmware}: esptool image-info refuses it: {exc}") from None
    text = out.getvalue()
    invalid = [ln.strip() for ln in text.splitlines() if "(invalid" in ln]
    if invalid:
        raise FlashError(f"{firmware}: corrupt image ({'; '.join(invalid)}); download it again")
    data = firmware.read_bytes()
    return ImageInfo(chip, all(name in data for name in DRIVER_NAMES))


CAMERA_CHECK = """
try:
    import camera
    print('CAMERA ok', getattr(camera, 'Version', lambda: '?')())
except ImportError as e:
    print('CAMERA missing', e)
"""


def camera_verdict(output: str, chip: str | None) -> str:
    """The driver's version from the board's answer; FlashError naming the build to get."""
    match = re.search(r"^CAMERA (ok|missing) ?(.*)$", output, re.MULTILINE)
    if match is None:
        raise FlashError(f"the board did not answer the camera check:\n{output.strip()}")
    if match[1] == "missing":
        raise FlashError(f"this MicroPython has no camera driver ({match[2]}); {build_hint(chip)}")
    return match[2].strip()


def check_camera(port: str, chip: str | None, module: str = "camera") -> str:
    """`import camera` on the board, through mpremote; the driver's version, else FlashError."""
    script = CAMERA_CHECK.replace("import camera", f"import {module} as camera")
    cmd = [sys.executable, "-m", "mpremote", "connect", port, "exec", script, "+", "reset"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise FlashError(f"the board on {port} did not answer the camera check") from None
    if proc.returncode != 0:
        raise FlashError(f"no MicroPython REPL on {port}: {(proc.stderr or proc.stdout).strip()}")
    return camera_verdict(proc.stdout, chip)


def plan(firmware: Path, chip: str, erase: bool) -> list[Step]:
    """What `alpr flash` will do, in order: shown before it starts, and tested without a board."""
    if chip not in OFFSETS:
        raise FlashError(f"chip {chip} is not a supported camera board (ESP32, ESP32-S3)")
    built_for = image_chip(firmware)
    if built_for is not None and built_for != chip:
        raise FlashError(
            f"wrong chip: {firmware.name} is built for {built_for}, the board is {chip}"
        )
    steps = [Step("detect", chip)]
    if erase:
        steps.append(Step("erase", "whole flash"))
    steps += [
        Step("write", f"{firmware.name} at 0x{OFFSETS[chip]:x}"),
        Step("verify", "flash against the image"),
        Step("reset", "hard reset into MicroPython"),
    ]
    return steps


def flash(port: str, firmware: Path, erase: bool) -> str:
    """Check the image, flash it; return the chip."""
    import esptool
    from esptool import cmds

    if port.startswith("socket://"):
        raise FlashError(
            f"{port} is the emulated board: it has no ROM bootloader and already runs MicroPython; "
            "use alpr deploy"
        )
    info = check_image(firmware)
    print(
        f"image: {firmware.name}, esptool image-info: valid, for {info.chip or 'an unnamed chip'}"
    )
    if not info.camera_driver:
        print(
            f"warning: this image does not look like it has the camera driver; {build_hint(info.chip)}"
        )
    print(f"connecting to {port} ...", flush=True)
    try:
        esp = cmds.detect_chip(port)
    except (esptool.FatalError, OSError) as exc:
        raise FlashError(f"no ESP32 answered on {port}: {exc}") from None
    chip = CHIP_NAMES.get(esp.CHIP_NAME)
    if chip is None:
        esp._port.close()
        raise FlashError(f"wrong chip: {esp.CHIP_NAME} on {port}; camera boards are ESP32/ESP32-S3")
    steps = plan(firmware, chip, erase)
    try:
        esp = cmds.run_stub(esp)
        cmds.attach_flash(esp)
        for i, step in enumerate(steps, 1):
            print(f"[{i}/{len(steps)}] {step.name}: {step.detail}", flush=True)
            if step.name == "erase":
                cmds.erase_flash(esp)
            elif step.name == "write":
                cmds.write_flash(esp, [(OFFSETS[chip], str(firmware))])  # esptool draws progress
            elif step.name == "verify":
                cmds.verify_flash(esp, [(OFFSETS[chip], str(firmware))])
            elif step.name == "reset":
                cmds.reset_chip(esp, "hard-reset")
    except (esptool.FatalError, OSError) as exc:
        raise FlashError(f"lost the board on {port} during flashing: {exc}") from None
    finally:
        esp._port.close()
    return chip


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("flash", help="write MicroPython to a camera board (esptool)")
    p.add_argument("--port", required=True)
    p.add_argument("--firmware", type=Path, help="MicroPython .bin with the camera driver")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first")
    p.add_argument(
        "--check-only",
        action="store_true",
        help="flash nothing: check the image (with --firmware) and that the board imports camera",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        chip = None
        if args.check_only:
            if args.firmware is not None:
                info = check_image(args.firmware)
                print(f"image: {args.firmware.name} valid, for {info.chip or 'an unnamed chip'}")
                print("camera driver in the image:", "yes" if info.camera_driver else "not found")
        elif args.firmware is None:
            raise FlashError("--firmware is required (or --check-only)")
        else:
            chip = flash(args.port, args.firmware, args.erase)
        version = check_camera(args.port, chip)
    except FlashError as exc:
        print(f"alpr flash: {exc}", file=sys.stderr)
        return 1
    print(f"camera driver on the board: {version}")
    if not args.check_only:
        print("flashed; next: alpr deploy --port", args.port, "--site-config CAMERA.site.json")
    return 0
