"""The one command line lists its subcommands."""

from __future__ import annotations

import subprocess
import sys


def test_help_lists_subcommands() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tools.cli", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("demo", "read", "eval", "bench", "train"):
        assert command in out


def test_hotlist_lists_remove_and_history() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tools.cli", "hotlist", "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for command in ("import", "add", "remove", "history", "list", "lint"):
        assert command in out
