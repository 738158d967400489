"""`alpr flash`: put MicroPython on a camera board with esptool's Python API.

Steps: detect the chip, (erase), write the image at the chip's offset, verify, hard reset, each with
a progress line. An ESP32 image goes at 0x1000 and an ESP32-S3 image at 0x0; a MicroPython build
for one chip refuses to go on the other. `--port socket://...` (the emulated board) has no ROM
bootloader: it is answered with a clear error, since the emulator already runs MicroPython.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

OFFSETS = {"esp32": 0x1000, "esp32s3": 0x0}
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


def flash(port: str, firmware: Path, erase: bool) -> None:
    import esptool
    from esptool import cmds

    if port.startswith("socket://"):
        raise FlashError(
            f"{port} is the emulated board: it has no ROM bootloader and already runs MicroPython; "
            "use alpr deploy"
        )
    if not firmware.is_file():
        raise FlashError(f"{firmware}: no such firmware file")
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


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("flash", help="write MicroPython to a camera board (esptool)")
    p.add_argument("--port", required=True)
    p.add_argument("--firmware", required=True, type=Path, help="MicroPython .bin for the chip")
    p.add_argument("--erase", action="store_true", help="erase the whole flash first")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        flash(args.port, args.firmware, args.erase)
    except FlashError as exc:
        print(f"alpr flash: {exc}", file=sys.stderr)
        return 1
    print("flashed; next: alpr deploy --port", args.port, "--site-config CAMERA.site.json")
    return 0
