"""The board under test: the emulated one (real MicroPython in Node) or a real one on HWTEST_PORT.

Tests talk to both the same way: deploy with `alpr deploy`, look at files with mpremote, and use
the bench's hands (trigger, supply voltage, Wi-Fi). The emulator has those hands built in; on a real
bench they are commands given in the environment, and a test that needs a missing one is skipped.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

EMULATOR = Path(__file__).resolve().parent / "emulator"


def skip(why: str) -> NoReturn:
    """Skip the test that asked for a hand this bench lacks (pytest only loaded in tests)."""
    import pytest

    pytest.skip(why)


def node_ready() -> str | None:
    """Why the emulator cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not (EMULATOR / "node_modules" / "@micropython").is_dir():
        return f"run: npm ci --prefix {EMULATOR}"
    return None


class Board:
    port: str
    emulated: bool

    def mpremote(self, *args: str, timeout: float = 60, reset: bool = True) -> str:
        """Run mpremote; then reset, so the board goes back to its firmware (and to sleep)."""
        tail = ["+", "reset"] if reset and "reset" not in args else []
        cmd = [sys.executable, "-m", "mpremote", "connect", self.port, *args, *tail]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"mpremote {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def exec(self, code: str) -> str:
        return self.mpremote("exec", code)

    def trigger(self) -> bool:
        raise NotImplementedError

    def timer(self) -> bool:
        raise NotImplementedError

    def set_supply(self, battery_v: float, solar_v: float) -> None:
        raise NotImplementedError

    def set_wifi(self, state: str) -> None:
        raise NotImplementedError

    def wait_asleep(self, timeout: float = 30) -> dict[str, Any]:
        raise NotImplementedError

    def current_ma(self, samples: int = 5) -> list[float]:
        skip("only a bench meter measures current")

    def close(self) -> None:
        pass


class EmulatedBoard(Board):
    """hwtest/emulator/board.mjs as a subprocess, with its control socket."""

    emulated = True

    def __init__(self, images: Path, log: Path) -> None:
        self.proc = subprocess.Popen(
            ["node", str(EMULATOR / "board.mjs"), "--images", str(images), "--log", str(log)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("READY"):
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line}{self.proc.stdout.read()}")
        fields = dict(f.split("=") for f in line.split()[1:])
        self.port = f"socket://127.0.0.1:{fields['serial']}"
        self.control_port = int(fields["control"])
        self.log = log

    def control(self, **req: Any) -> dict[str, Any]:
        with socket.create_connection(("127.0.0.1", self.control_port), timeout=60) as s:
            s.sendall((json.dumps(req) + "\n").encode())
            reply: dict[str, Any] = json.loads(s.makefile().readline())
        if "error" in reply:
            raise RuntimeError(reply["error"])
        return reply

    def trigger(self) -> bool:
        return bool(self.control(op="trigger")["woke"])

    def timer(self) -> bool:
        return bool(self.control(op="timer")["woke"])

    def set_supply(
        self, battery_v: float, solar_v: float, battery_div: float = 2.0, solar_div: float = 3.0
    ) -> None:
        # the site config's dividers and pins (tools/field/provision.py defaults: GPIO14, GPIO15)
        self.control(op="set", adc={"14": battery_v / battery_div, "15": solar_v / solar_div})

    def set_wifi(self, state: str) -> None:
        self.control(op="set", wifi=state)

    def wait_asleep(self, timeout: float = 30) -> dict[str, Any]:
        time.sleep(0.05)
        state = self.control(op="wait_asleep", timeout=timeout)
        if not state["asleep"]:
            raise AssertionError(f"board still awake after {timeout} s:\n{self.console()}")
        return state

    def state(self) -> dict[str, Any]:
        return self.control(op="state")

    def arm_power_cut(self, path: str, after: int) -> None:
        """The next write to a flash file whose path contains `path` dies after `after` bytes."""
        self.control(op="power_cut", path=path, after=after)

    def power_cycle(self) -> None:
        """Power off and on: RTC memory is lost, the flash stays."""
        self.control(op="power_cycle")

    def set_clock_offset(self, seconds: float) -> None:
        """Put the board's RTC this many seconds ahead of the real time (behind when negative)."""
        self.control(op="set", clock_offset_s=seconds)

    def queued(self) -> list[int]:
        """Sequence numbers of the events fully written to the flash queue (q/NNNNNNNNNN.evt)."""
        names = [f.rsplit("/", 1)[-1] for f in self.state()["files"] if f.startswith("/q/")]
        return sorted(int(n[:-4]) for n in names if n.endswith(".evt"))

    def console(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class RealBoard(Board):
    """A USB board on the bench. Hands: HWTEST_TRIGGER_CMD (pulse the trigger line),
    HWTEST_SUPPLY_CMD (set the bench supply, '{battery}' and '{solar}' filled in),
    HWTEST_WIFI_CMD (turn the test access point '{state}': up or down),
    HWTEST_CURRENT_CMD (read the supply current: prints milliamps, e.g. a SCPI meter query)."""

    emulated = False

    def __init__(self, port: str) -> None:
        self.port = port

    def _hand(self, env: str, **kw: Any) -> None:
        cmd = os.environ.get(env)
        if not cmd:
            skip(f"this bench has no {env}")
        subprocess.run(shlex.split(cmd.format(**kw)), check=True, timeout=60)

    def trigger(self) -> bool:
        self._hand("HWTEST_TRIGGER_CMD")
        return True

    def timer(self) -> bool:
        # a real board cannot be told to wake early: run one timer wake from the REPL instead
        self.mpremote("exec", "import app; app.main()", timeout=120)
        return True

    def set_supply(
        self, battery_v: float, solar_v: float, battery_div: float = 2.0, solar_div: float = 3.0
    ) -> None:
        self._hand("HWTEST_SUPPLY_CMD", battery=battery_v, solar=solar_v)

    def set_wifi(self, state: str) -> None:
        self._hand("HWTEST_WIFI_CMD", state=state)

    def current_ma(self, samples: int = 5) -> list[float]:
        cmd = os.environ.get("HWTEST_CURRENT_CMD")
        if not cmd:
            skip("this bench has no HWTEST_CURRENT_CMD")
        readings = []
        for _ in range(samples):
            out = subprocess.run(shlex.split(cmd), check=True, timeout=60, capture_output=True, text=True)
            readings.append(float(out.stdout.strip()))
            time.sleep(0.5)
        return readings

    def wait_asleep(self, timeout: float = 30) -> dict[str, Any]:
        time.sleep(min(timeout, 15))  # no way to see it from here: the longest wake plus margin
        return {"asleep": True}
