"""The fault matrix, short form: each row injects its faults into the real parts (a local Ceph RGW
behind a fault-injecting proxy, SQLite), then counts from the data itself: nothing lost, nothing
stored twice."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tools.faults import BOARD, EXIT_UNAVAILABLE, SCENARIOS, fuzz_sizes
from tools.faults.row import Row, markdown

ROOT = Path(__file__).resolve().parent.parent


def test_short_fault_matrix_loses_and_duplicates_nothing(rgw: dict[str, str]) -> None:
    """`alpr faults --short`, on the session's RGW (the command starts its own without --rgw-data)."""
    rows_here = [name for name in SCENARIOS if name not in BOARD]  # tests/test_faults_board.py
    command = [sys.executable, "-m", "tools.cli", "faults", "--short", "--json"]
    command += [arg for name in rows_here for arg in ("--only", name)]
    proc = subprocess.run(
        [*command, "--rgw-data", rgw["data_dir"]],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    if proc.returncode == EXIT_UNAVAILABLE and not os.environ.get("S3_LOCAL_REQUIRED"):
        pytest.skip(f"Ceph RGW is not available here: {proc.stderr[-500:]}")
    result = json.loads(proc.stdout)
    rows, skipped = result["rows"], result["skipped"]
    assert rows and len(rows) + len(skipped) == len(rows_here), proc.stderr[-2000:]
    # a row is skipped only when a tool it needs is missing (powercut: a C compiler)
    assert not skipped or not (shutil.which("cc") or shutil.which("gcc")), skipped
    for row in rows:
        assert row["injected"] > 0, f"{row['name']}: no fault was injected"
        assert row["acknowledged"] > 0, f"{row['name']}: nothing to check"
        assert row["lost"] == 0, f"{row['name']}: lost {row['detail']}"
        assert row["duplicated"] == 0, f"{row['name']}: duplicated {row['detail']}"
    assert proc.returncode == 0, proc.stderr[-2000:]


def test_table_has_one_line_per_row() -> None:
    rows = [Row("a | b", 3, 10, 0, 1, 2.25, "n")]
    lines = markdown(rows).splitlines()
    assert lines[2] == "| a / b | 3 | 10 | 0 | 1 | 2.2 | n |"


def test_fuzzing_runs_when_asked_or_with_the_whole_full_matrix() -> None:
    """`--full --only kill9` is that row alone (it once also fuzzed for minutes)."""
    assert fuzz_sizes("full", ["kill9"], 0, 0) == (0, 0)
    assert fuzz_sizes("full", None, 0, 0) == (2000, 10_000)
    assert fuzz_sizes("full", ["fuzz"], 0, 0) == (2000, 10_000)
    assert fuzz_sizes("short", ["fuzz"], 0, 0) == (200, 200)
    assert fuzz_sizes("short", None, 0, 0) == (0, 0)
    assert fuzz_sizes("short", ["kill9"], 50, 300) == (50, 300)


def test_only_rows_runs_no_fuzzing(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--full --only NAME` runs that row alone; fuzzing runs by default or with --only fuzz."""
    import tools.faults as faults
    import tools.faults.api_fuzz as api_fuzz
    import tools.faults.fuzz as fuzz
    from tools.cli import build_parser

    ran: list[int] = []
    monkeypatch.setattr(faults, "run_rows", lambda *a, **k: [])
    monkeypatch.setattr(fuzz, "run_all", lambda n: ran.append(n) or [])
    monkeypatch.setattr(api_fuzz, "run_api_fuzz", lambda n: {"failures": 0})
    for argv, fuzzed in [
        (["--full", "--only", "kill9"], []),
        (["--full"], [2000]),
        (["--short", "--only", "fuzz"], [200]),
        (["--only", "kill9", "--fuzz", "5"], [5]),
    ]:
        ran.clear()
        args = build_parser().parse_args(["faults", "--json", *argv])
        assert faults.run(args) == 0
        assert ran == fuzzed, argv
