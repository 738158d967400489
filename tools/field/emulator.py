"""`alpr emulator`: the emulated camera board (real MicroPython in Node) for a person at a desk.

`start` runs hwtest/emulator/board.mjs and prints its two loopback ports: the serial port, a raw
REPL on TCP that `mpremote connect socket://127.0.0.1:PORT` and `alpr deploy --port` use like a
USB board, and the control port, the bench's hands. It stays in the foreground until Ctrl-C, or
with `--detach` leaves the board running and writes a state file (ports, pid) that the other
subcommands read: `trigger`, `timer`, `adc`, `wifi`, `power`, `state` and `stop`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

EMULATOR = Path(__file__).resolve().parents[2] / "hwtest" / "emulator"
DEFAULT_STATE = Path("build/emulator/state.json")
START_TIMEOUT_S = 60.0
# tools/field/provision.py's site-config defaults: battery on GPIO14 halved, solar on GPIO15 thirded
BATTERY_PIN, SOLAR_PIN, BATTERY_DIVIDER, SOLAR_DIVIDER = 14, 15, 2.0, 3.0


class EmulatorError(RuntimeError):
    """The emulator cannot start or cannot be reached; the message says what to do."""


@dataclass(frozen=True)
class Running:
    """A started board, as the state file records it."""

    pid: int
    serial: int
    control: int
    log: str

    @property
    def port(self) -> str:
        return f"socket://127.0.0.1:{self.serial}"


def why_not_ready() -> str | None:
    if shutil.which("node") is None:
        return "Node.js is not installed (the emulator runs MicroPython's WebAssembly port in it)"
    if not (EMULATOR / "node_modules" / "@micropython").is_dir():
        return f"MicroPython for the emulator is missing: run npm ci --prefix {EMULATOR}"
    return None


def command(images: Path | None, log: Path, serial: int, control: int) -> list[str]:
    cmd = ["node", str(EMULATOR / "board.mjs"), "--serial", str(serial)]
    cmd += ["--control", str(control), "--log", str(log)]
    if images is not None:
        cmd += ["--images", str(images)]
    return cmd


def parse_ready(line: str) -> tuple[int, int]:
    """(serial, control) from the emulator's `READY serial=N control=M` line."""
    if not line.startswith("READY"):
        raise EmulatorError(f"the emulator did not start: {line.strip() or 'no output'}")
    fields = dict(f.split("=", 1) for f in line.split()[1:])
    return int(fields["serial"]), int(fields["control"])


def start(
    images: Path | None, log: Path, serial: int = 0, control: int = 0, detach: bool = False
) -> tuple[subprocess.Popen[bytes], Running]:
    """Start the board; detached, its output goes to a file and it outlives this process."""
    why = why_not_ready()
    if why:
        raise EmulatorError(why)
    if images is not None and not images.is_dir():
        raise EmulatorError(f"--images {images}: no such folder of JPEGs")
    log.parent.mkdir(parents=True, exist_ok=True)
    out_path = log.with_suffix(".out")
    with open(out_path, "wb") as out:
        proc = subprocess.Popen(
            command(images, log, serial, control),
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=detach,  # Ctrl-C in this terminal does not reach a detached board
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    text = ""
    while time.monotonic() < deadline:
        text = out_path.read_text(errors="replace")
        if "\n" in text or proc.poll() is not None:
            break
        time.sleep(0.05)
    try:
        s, c = parse_ready(text.splitlines()[0] if text else "")
    except (EmulatorError, KeyError, ValueError) as exc:
        proc.kill()
        proc.wait()
        raise EmulatorError(f"the emulator did not start: {text.strip() or exc}") from None
    return proc, Running(proc.pid, s, c, str(log))


def write_state(path: Path, running: Running) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(running)) + "\n")


def read_state(path: Path) -> Running:
    try:
        return Running(**json.loads(path.read_text()))
    except OSError:
        raise EmulatorError(
            f"no emulator state in {path}: start one with `alpr emulator start --detach`"
        ) from None
    except (ValueError, TypeError) as exc:
        raise EmulatorError(f"{path}: not an emulator state file ({exc})") from None


def control(port: int, timeout: float = 60, **request: Any) -> dict[str, Any]:
    """One request on the control socket, one JSON answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall((json.dumps(request) + "\n").encode())
            line = s.makefile().readline()
    except OSError as exc:
        raise EmulatorError(f"no emulator on control port {port}: {exc}") from None
    if not line:
        raise EmulatorError(f"the emulator on control port {port} closed without answering")
    reply: dict[str, Any] = json.loads(line)
    if "error" in reply:
        raise EmulatorError(f"the emulator refused {request['op']}: {reply['error']}")
    return reply


def is_emulator(pid: int) -> bool:
    """True when pid is a running board.mjs, so that `stop` never signals an unrelated process."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"board.mjs" in cmdline


def stop(state_path: Path) -> bool:
    """Stop the detached board; False when it was no longer running. The state file goes."""
    running = read_state(state_path)
    alive = is_emulator(running.pid)
    if alive:
        os.kill(running.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while is_emulator(running.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if is_emulator(running.pid):
            os.kill(running.pid, signal.SIGKILL)
    state_path.unlink(missing_ok=True)
    return alive


def describe(running: Running) -> str:
    return (
        f"serial  {running.port}   (raw REPL: mpremote connect {running.port})\n"
        f"control 127.0.0.1:{running.control}   (alpr emulator trigger|timer|adc|wifi|power)\n"
        f"console {running.log}\n"
        f"deploy  alpr deploy --port {running.port} --site-config CAMERA.site.json"
    )


def run_start(args: argparse.Namespace) -> int:
    log = args.log or args.state.parent / "console.log"
    if args.detach and args.state.exists():
        old = read_state(args.state)
        if is_emulator(old.pid):
            print(f"alpr emulator: one is already running (pid {old.pid})", file=sys.stderr)
            print(describe(old))
            return 1
    proc, running = start(args.images, log, args.serial, args.control, args.detach)
    if args.detach:
        write_state(args.state, running)
        print(describe(running))
        print(f"state   {args.state}   (alpr emulator stop)")
        return 0
    print(describe(running))
    print("Ctrl-C stops the board", flush=True)
    try:
        proc.wait()
    except KeyboardInterrupt:
        proc.terminate()
        proc.wait(10)
        print("\nemulator stopped")
        return 0
    print(f"alpr emulator: the board exited with status {proc.returncode}", file=sys.stderr)
    return 1


def control_port(args: argparse.Namespace) -> int:
    return int(args.control_port) if args.control_port else read_state(args.state).control


def run_op(args: argparse.Namespace) -> int:
    port = control_port(args)
    op = args.emulator_command
    if op in ("trigger", "timer"):
        if control(port, op=op)["woke"]:
            print(f"{op}: the board woke")
            return 0
        state = control(port, op="state")
        why = "it is awake" if not state["asleep"] else "its firmware did not arm that wake"
        print(f"{op}: ignored, {why}")
        return 0
    if op == "adc":
        adc: dict[str, float] = {}
        if args.battery is not None:
            adc[str(BATTERY_PIN)] = args.battery / args.battery_divider
        if args.solar is not None:
            adc[str(SOLAR_PIN)] = args.solar / args.solar_divider
        for spec in args.pin or []:
            pin, _, volts = spec.partition("=")
            try:
                adc[str(int(pin))] = float(volts)
            except ValueError:
                raise SystemExit(
                    f"alpr emulator adc: --pin {spec!r}: expected GPIO=VOLTS"
                ) from None
        if not adc:
            raise SystemExit("alpr emulator adc: give --battery, --solar or --pin GPIO=VOLTS")
        state = control(port, op="set", adc=adc)
        print("ADC pins (volts at the pin):", json.dumps(state["adc"], sort_keys=True))
        return 0
    if op == "wifi":
        request: dict[str, Any] = {"op": "set", "wifi": args.state_word}
        if args.rssi is not None:
            request["rssi"] = args.rssi
        state = control(port, **request)
        print(f"access point {state['wifi']}, RSSI {state['rssi']} dBm")
        return 0
    if op == "power":
        state = control(port, op="power_cycle", erase=args.erase)
        print(f"power cycled{' with flash erased' if args.erase else ''}; boots {state['boots']}")
        return 0
    print(json.dumps(control(port, op="state"), indent=2, sort_keys=True))
    return 0


def run_stop(args: argparse.Namespace) -> int:
    was_running = stop(args.state)
    print("emulator stopped" if was_running else "the emulator was not running; state removed")
    return 0


def guarded(func: Any) -> Any:
    def wrapper(args: argparse.Namespace) -> int:
        try:
            result: int = func(args)
        except EmulatorError as exc:
            print(f"alpr emulator: {exc}", file=sys.stderr)
            return 1
        return result

    return wrapper


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("emulator", help="the emulated camera board: start it and drive its hands")
    esub = p.add_subparsers(dest="emulator_command", required=True)

    def add(name: str, help_text: str, func: Any) -> argparse.ArgumentParser:
        q = esub.add_parser(name, help=help_text)
        q.add_argument("--state", type=Path, default=DEFAULT_STATE, help="the state file")
        if name not in ("start", "stop"):
            q.add_argument("--control-port", type=int, help="instead of the state file")
        q.set_defaults(func=guarded(func))
        return q

    s = add("start", "run the board; prints its serial (REPL) and control ports", run_start)
    s.add_argument("--detach", action="store_true", help="leave it running, write --state")
    s.add_argument("--images", type=Path, help="JPEGs the fake camera returns, in turn")
    s.add_argument("--log", type=Path, help="console log (default: next to the state file)")
    s.add_argument("--serial", type=int, default=0, help="serial TCP port (default: free one)")
    s.add_argument("--control", type=int, default=0, help="control TCP port (default: free one)")
    add("stop", "stop a detached board", run_stop)
    add("trigger", "pull the trigger line (ext0 wake)", run_op)
    add("timer", "fire the wake timer (heartbeat wake)", run_op)
    a = add("adc", "set the battery and solar voltages the ADC pins see", run_op)
    a.add_argument("--battery", type=float, help=f"battery volts (GPIO{BATTERY_PIN})")
    a.add_argument("--solar", type=float, help=f"solar volts (GPIO{SOLAR_PIN})")
    a.add_argument(
        "--battery-divider", type=float, default=BATTERY_DIVIDER, help="the battery divider ratio"
    )
    a.add_argument(
        "--solar-divider", type=float, default=SOLAR_DIVIDER, help="the solar divider ratio"
    )
    a.add_argument("--pin", action="append", help="GPIO=VOLTS at the pin itself (repeatable)")
    w = add("wifi", "take the access point up or down", run_op)
    w.add_argument("state_word", choices=("up", "down"), metavar="up|down")
    w.add_argument("--rssi", type=int, help="signal strength the board reports, dBm")
    pw = add("power", "power-cycle the board (RTC memory lost, flash kept)", run_op)
    pw.add_argument("action", choices=("cycle",))
    pw.add_argument("--erase", action="store_true", help="erase the flash too")
    add("state", "print the board's state as JSON", run_op)
