"""`alpr emulator`: a detached board that mpremote reaches, woken by `trigger`, then stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.field.emulator import control, is_emulator, read_state, why_not_ready

REPO = Path(__file__).resolve().parents[1]
SLEEP = (
    "import esp32, machine; esp32.wake_on_ext0(machine.Pin(13), 1); "
    "print('cause', machine.reset_cause(), machine.wake_reason()); machine.deepsleep(600000)"
)


def alpr(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "tools.cli", "emulator", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def wait_asleep(port: int) -> None:
    deadline = time.monotonic() + 30
    while not control(port, op="state")["asleep"]:
        assert time.monotonic() < deadline, "the board did not go to sleep"
        time.sleep(0.1)


@pytest.mark.skipif(why_not_ready() is not None, reason=str(why_not_ready()))
def test_start_detached_trigger_and_stop(tmp_path: Path) -> None:
    out = alpr(tmp_path, "start", "--detach")
    assert out.returncode == 0, out.stderr
    state = read_state(tmp_path / "build" / "emulator" / "state.json")
    try:
        assert f"mpremote connect socket://127.0.0.1:{state.serial}" in out.stdout
        assert is_emulator(state.pid)
        again = alpr(tmp_path, "start", "--detach")
        assert again.returncode == 1 and "already running" in again.stderr

        adc = alpr(tmp_path, "adc", "--battery", "3.9", "--solar", "6.0")
        assert adc.returncode == 0, adc.stderr
        assert control(state.control, op="state")["adc"] == {"14": 1.95, "15": 2.0}  # solar divider 3.0

        awake = alpr(tmp_path, "trigger")
        assert awake.returncode == 0 and "ignored, it is awake" in awake.stdout
        # the serial port is a REPL that mpremote drives; put the board to sleep, armed on ext0
        subprocess.run(
            [sys.executable, "-m", "mpremote", "connect", state.port, "exec", SLEEP],
            capture_output=True,
            timeout=60,
        )
        wait_asleep(state.control)
        boots = control(state.control, op="state")["boots"]
        woke = alpr(tmp_path, "trigger")
        assert woke.returncode == 0 and "the board woke" in woke.stdout, woke.stdout + woke.stderr
        after = control(state.control, op="state")
        assert after["boots"] == boots + 1 and after["lastWake"] == 2  # EXT0_WAKE

        wifi = alpr(tmp_path, "wifi", "down", "--rssi", "-81")
        assert "access point down, RSSI -81" in wifi.stdout
        assert json.loads(alpr(tmp_path, "state").stdout)["wifi"] == "down"
    finally:
        stopped = alpr(tmp_path, "stop")
    assert stopped.returncode == 0 and "emulator stopped" in stopped.stdout
    assert not is_emulator(state.pid)
    gone = alpr(tmp_path, "trigger")
    assert gone.returncode == 1 and "alpr emulator start --detach" in gone.stderr
