"""`alpr deploy` ends with the board's self-test: camera, ADC, Wi-Fi RSSI, gateway and clock."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from hwtest.board import Board
from hwtest.conftest import ROOT, Gateway, site_config
from tools.field import flash


def alpr_deploy(board: Board, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tools.cli",
            "deploy",
            "--port",
            board.port,
            "--site-config",
            str(site),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )


def test_deploy_prints_a_passing_selftest(board: Board, gateway: Gateway, tmp_path: Path) -> None:
    board.set_supply(3.95, 5.1)
    out = alpr_deploy(board, site_config(gateway, tmp_path, burst=1))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = {ln.split()[1]: ln for ln in out.stdout.splitlines() if ln.startswith("  ")}
    assert set(lines) == {"config", "camera", "adc", "wifi", "gateway", "clock"}, out.stdout
    assert all(ln.split()[0] == "ok" for ln in lines.values()), out.stdout
    assert "battery 3.95 V, solar 5.1 V" in lines["adc"]
    assert "JPEG" in lines["camera"] and "RSSI -" in lines["wifi"] and "HTTP/1." in lines["gateway"]
    board.wait_asleep()  # and the firmware runs again afterwards


def test_selftest_names_what_fails(board: Board, gateway: Gateway, tmp_path: Path) -> None:
    if not board.emulated:
        return  # needs the emulator's hands on the supply and the access point
    site = site_config(gateway, tmp_path, burst=1)
    board.set_supply(2.1, 0.0)  # a flat battery, or a divider wired wrong
    board.set_wifi("down")
    out = alpr_deploy(board, site)
    assert out.returncode == 1 and "self-test failed: adc, wifi, gateway" in out.stderr, (
        out.stdout + out.stderr
    )
    assert "FAIL adc      battery 2.1 V" in out.stdout
    assert "FAIL gateway  error: not tried (no Wi-Fi)" in out.stdout


def test_flash_camera_check_on_the_board(board: Board) -> None:
    assert flash.check_camera(board.port, "esp32")  # the driver (the emulator's fake) imports
    if board.emulated:  # a MicroPython without the module: the same check, a module it lacks
        with pytest.raises(flash.FlashError, match=r"no camera driver.*AI_THINKER"):
            flash.check_camera(board.port, "esp32", module="camera_driver_absent")
