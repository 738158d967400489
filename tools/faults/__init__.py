"""`alpr faults`: the fault matrix. Each row injects one kind of fault into the real parts and counts,
from where the data ended up, what was lost and what was duplicated, and how long recovery took.

A scenario is a module with `run(size, env) -> Row`; add a row by adding a module and a line to
`SCENARIOS`. `--short` is what the test suite runs; `--full` is the one the README's table is from.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import logging
import sys
from pathlib import Path
from typing import Any

from tools.faults.board import shared
from tools.faults.rgw import RgwUnavailable
from tools.faults.row import Env, Row, RowUnavailable, Scenario, Size, markdown

log = logging.getLogger("alpr.faults")
EXIT_UNAVAILABLE = 69  # as tools/s3-local: Ceph cannot run here
API_CASES_FULL, API_CASES_SHORT = 10_000, 200  # schemathesis cases against the camera API

# name -> module with run(size) -> Row, in table order
SCENARIOS: dict[str, str] = {
    "s3-sync": "tools.faults.s3_sync",
    "kill9": "tools.faults.kill9",
    "powercut": "tools.faults.powercut",
    "disk-full": "tools.faults.disk_full",
    "corrupt-page": "tools.faults.corrupt_page",
    "board-clock": "tools.faults.board_clock",
    "board-power": "tools.faults.board_power",
    "board-restart": "tools.faults.board_restart",
}
BOARD = ("board-clock", "board-power", "board-restart")  # rows on the emulated board (Node.js)


def scenario(name: str) -> Scenario:
    run: Scenario = importlib.import_module(SCENARIOS[name]).run
    return run


def run_rows(
    size: Size, only: list[str], env: Env | None = None, skipped: dict[str, str] | None = None
) -> list[Row]:
    """Run the chosen scenarios one after the other (each starts and stops its own servers).

    A row that cannot run here (RowUnavailable) is left out with the reason in `skipped`.
    """
    rows = []
    with shared():  # the board rows of one run share one deployed board
        for name in only:
            log.info("fault scenario %s (%s)", name, size)
            try:
                rows.append(scenario(name)(size, env or Env()))
            except RowUnavailable as exc:
                log.error("fault scenario %s skipped: %s", name, exc)
                if skipped is not None:
                    skipped[name] = str(exc)
    return rows


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "faults", help="inject faults (S3 errors, ...) and print what was lost or duplicated"
    )
    size = p.add_mutually_exclusive_group()
    size.add_argument("--short", dest="size", action="store_const", const="short")
    size.add_argument("--full", dest="size", action="store_const", const="full")
    p.add_argument(
        "--only",
        action="append",
        choices=[*SCENARIOS, "fuzz"],
        metavar="NAME",
        help=f"run only this row (repeatable): {', '.join(SCENARIOS)}; 'fuzz': only the fuzzing"
        " (input parsers and the camera API)",
    )
    p.add_argument(
        "--fuzz",
        type=int,
        metavar="N",
        default=0,
        help="also fuzz the input parsers, N examples each (needs hypothesis; --full: 2000)",
    )
    p.add_argument(
        "--schemathesis",
        type=int,
        metavar="N",
        default=0,
        help="also fuzz the camera API over HTTP with N schemathesis cases"
        " (--full: 10000; --only fuzz: 200)",
    )
    p.add_argument(
        "--rgw-data",
        type=Path,
        metavar="DIR",
        help="use the S3 server that tools/s3-local runs from DIR (default: start a fresh one)",
    )
    p.add_argument("--json", action="store_true", help="print only the JSON")
    p.set_defaults(func=run, size="short")


def fuzz_sizes(size: Size, only: list[str] | None, examples: int, cases: int) -> tuple[int, int]:
    """(parser examples each, API cases): what --fuzz N and --schemathesis N say; else the fuzzing
    runs with `--only fuzz`, and with --full unless --only names other rows alone."""
    fuzzing = "fuzz" in (only or []) or (size == "full" and not only)
    full = size == "full"
    return (
        examples or (0 if not fuzzing else 2000 if full else 200),
        cases or (0 if not fuzzing else API_CASES_FULL if full else API_CASES_SHORT),
    )


def run(args: argparse.Namespace) -> int:
    """Exit 1 when any row lost or duplicated something, a fuzz target crashed, or an API answer
    was a 5xx or not as the spec documents it."""
    started = dt.datetime.now(dt.UTC)
    only = args.only or list(SCENARIOS)
    skipped: dict[str, str] = {}
    try:
        rows = run_rows(args.size, [n for n in only if n != "fuzz"], Env(args.rgw_data), skipped)
    except RgwUnavailable as exc:
        log.error("no local S3 server for the fault matrix: %s", exc)
        return EXIT_UNAVAILABLE
    examples, cases = fuzz_sizes(args.size, args.only, args.fuzz, args.schemathesis)
    fuzz: list[dict[str, Any]] = []
    if examples:
        from tools.faults.fuzz import run_all

        fuzz = run_all(examples)
    api: dict[str, Any] = {}
    if cases:
        from tools.faults.api_fuzz import run_api_fuzz

        api = run_api_fuzz(cases)
    result = {
        "size": args.size,
        "started": started.isoformat(timespec="seconds"),
        "rows": [r.as_dict() for r in rows],
        "skipped": skipped,
        "fuzz": fuzz,
        "api_fuzz": api,
    }
    if not args.json:
        print(f"fault matrix ({args.size}), {started:%Y-%m-%d}\n")
        print(markdown(rows))
        for name, why in skipped.items():
            print(f"\nskipped {name}: {why}")
        if fuzz:
            from tools.faults.fuzz import fuzz_markdown

            print("\n" + fuzz_markdown(fuzz))
        if api:
            from tools.faults.api_fuzz import api_markdown

            print("\n" + api_markdown(api))
        print()
    print(json.dumps(result, indent=None if args.json else 1))
    bad = (
        any(r.lost or r.duplicated or r.detail.get("failures") for r in rows)
        or any(f["crashes"] for f in fuzz)
        or bool(api and api["failures"])
    )
    sys.stdout.flush()
    return 1 if bad else 0
