"""`alpr config`: the config file's reference (JSON Schema, or Markdown for docs/config.md) and a
check that names every problem."""

from __future__ import annotations

import argparse
import json
import sys

from gateway import config as cfg
from gateway.config_docs import markdown
from tools.common import ConfigNotFound, add_config_arg, demo_config, find_config, load_path


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("config", help="the deployment config: its schema, or check a file")
    cmds = p.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    schema = cmds.add_parser("schema", help="print the JSON Schema of the config file")
    schema.set_defaults(func=run_schema)
    docs = cmds.add_parser("docs", help="print the reference of every key (docs/config.md)")
    docs.set_defaults(func=run_docs)
    check = cmds.add_parser("check", help="validate a config file; print OK or every problem")
    add_config_arg(check)
    check.set_defaults(func=run_check)


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(cfg.json_schema(), indent=2))
    return 0


def run_docs(args: argparse.Namespace) -> int:
    sys.stdout.write(markdown(cfg.json_schema()))
    return 0


def run_check(args: argparse.Namespace) -> int:
    try:
        path = cfg.EMBEDDED if getattr(args, "demo", False) else find_config(args)
    except ConfigNotFound as exc:
        print(f"alpr: {exc}", file=sys.stderr)
        return 2
    try:
        config = demo_config() if path is cfg.EMBEDDED else load_path(path)
    except cfg.ConfigError as exc:
        print(f"{path}: {exc}", file=sys.stderr)
        return 1
    print(
        f"OK: {path} ({len(config.sites)} sites, {len(config.cameras)} cameras, "
        f"{len(config.hotlists)} hot lists, {len(config.alerts)} alert targets)"
    )
    return 0
