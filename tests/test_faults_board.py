"""The fault matrix's rows on the emulated camera board (real MicroPython), short form: a clock
hours off, power cuts in the middle of flash-queue writes, and the gateway and the camera restarting
together with events queued. Counted from the gateway's store and the board's flash."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from hwtest.board import node_ready
from tools.faults import BOARD

ROOT = Path(__file__).resolve().parent.parent


def test_board_rows_lose_duplicate_and_misdate_nothing() -> None:
    """`alpr faults --short --only board-...`: the rows share one deployed board."""
    why = node_ready()
    if why:
        pytest.fail(f"the emulated board cannot start: {why}")
    command = [sys.executable, "-m", "tools.cli", "faults", "--short", "--json"]
    command += [arg for name in BOARD for arg in ("--only", name)]
    proc = subprocess.run(
        command, capture_output=True, text=True, timeout=600, cwd=ROOT, check=False
    )
    assert proc.stdout, proc.stderr[-3000:]
    rows = json.loads(proc.stdout)["rows"]
    assert len(rows) == len(BOARD), proc.stderr[-3000:]
    for row in rows:
        assert row["injected"] > 0 and row["acknowledged"] > 0, row
        assert row["lost"] == 0, f"{row['name']}: lost {row['detail']}"
        assert row["duplicated"] == 0, f"{row['name']}: duplicated {row['detail']}"
        assert not row["detail"]["failures"], f"{row['name']}: {row['notes']} {row['detail']}"
    clock = rows[0]["detail"]
    assert clock["stale_refusals"] >= 1, clock  # the wrong clock was noticed, with a clear reason
    assert clock["bad_capture_times"] == 0 and clock["clock_not_corrected"] == 0, clock
    assert proc.returncode == 0, proc.stderr[-3000:]
