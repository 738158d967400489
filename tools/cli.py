"""`alpr`: the one command line of fixed-alpr. It only wires subcommands; each lives in its own module.

- `tools/field/`: the technician and the chief (flash, deploy, provision, survey, sites, power);
- `tools/ops/`: the gateway and its data (gateway, hot lists, reads and hits, cloud and evidence);
- `tools/bench/`: benchmarks that print numbers; `tools/train/`: training and evaluation.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tomllib
import traceback
from collections.abc import Sequence

from gateway.backup import GatewayRunning, RestoreError
from gateway.config import ConfigError
from gateway.migrations import StoreVersionError
from gateway.store import RefusedError
from tools import bench, completion, demo, read, train
from tools.common import ConfigNotFound
from tools.errors import UserError
from tools.field import camera_sim, deploy, emulator, flash, power, provision, sites, survey
from tools.field.geo import GeoError
from tools.ops import (
    audit_cmd,
    cloud_cmd,
    config_cmd,
    deployments_cmd,
    gateway_cmd,
    hotlist_cmd,
    init_cmd,
    records,
    report_cmd,
    search_cmd,
    service_cmd,
    share_cmd,
    users_cmd,
)
from tools.train import evaluate

COMMANDS = (
    # the gateway and its data
    init_cmd,
    service_cmd,
    demo,
    config_cmd,
    gateway_cmd,
    camera_sim,
    hotlist_cmd,
    records,
    search_cmd,
    cloud_cmd,
    # who may reach the data, and the record of who did
    users_cmd,
    audit_cmd,
    # releases to other agencies
    share_cmd,
    deployments_cmd,
    report_cmd,
    # the chief and the technician
    sites,
    survey,
    # the camera firmware and the technician
    provision,
    flash,
    deploy,
    emulator,
    power,
    # the reader
    read,
    evaluate,
    bench,
    train,
    completion,
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="alpr", description="fixed-alpr: licence plate reading for fixed camera sites"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--demo",
        action="store_true",
        help="use the embedded demo config (data under build/demo) instead of a deployment's",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.register(sub)
    return parser


# What a user can cause and fix: one line on stderr, exit 2. Anything else is a bug and keeps its
# traceback, so it gets reported rather than hidden.
EXPECTED: tuple[type[BaseException], ...] = (
    UserError,
    ConfigError,
    ConfigNotFound,
    StoreVersionError,
    RestoreError,
    GatewayRunning,
    RefusedError,
    GeoError,
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    json.JSONDecodeError,
    tomllib.TOMLDecodeError,
    ConnectionError,
)


def describe(exc: BaseException) -> str:
    """One line for an expected error, naming the file or what failed."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.filename}: {exc.strerror.lower()}"
    if isinstance(exc, json.JSONDecodeError):
        return f"not valid JSON ({exc})"
    if isinstance(exc, tomllib.TOMLDecodeError):
        return f"not valid TOML ({exc})"
    if isinstance(exc, ConnectionError):
        why = (exc.strerror or str(exc)).lower()
        return f"cannot connect: {why}; is the gateway (`alpr gateway serve`) up at that address?"
    if isinstance(exc, ConfigError) and not str(exc).startswith("config"):
        return f"config error: {exc}"
    return " ".join(str(exc).split()) or type(exc).__name__


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result: int = args.func(args)
    except EXPECTED as exc:
        if args.verbose:
            traceback.print_exc()
        print(f"alpr: {describe(exc)}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
