"""What the `alpr` subcommands share: finding and loading the deployment config.

A real deployment always names its config; the embedded demo config is used only when asked for
(`alpr demo`, or the global `--demo` flag), never as a silent fallback that would show an empty
store and hide a mistyped path.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from gateway import config as cfg
from gateway.store import Store

DEFAULT_CONFIG = cfg.EMBEDDED
DEMO_DIR = Path("build/demo")  # where `alpr demo` runs, relative to the working directory
CONFIG_ENV = "ALPR_CONFIG"
CONFIG_NAME = "alpr.toml"


class ConfigNotFound(Exception):
    """No config was named and none was found; the message says where it looked."""


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        help=f"deployment config (default: ${CONFIG_ENV}, else ./{CONFIG_NAME}; "
        "`alpr init DIR` writes one)",
    )


def find_config(args: argparse.Namespace) -> Path:
    """The config named by --config, $ALPR_CONFIG or ./alpr.toml, in that order."""
    if getattr(args, "config", None) is not None:
        return Path(args.config)
    env = os.environ.get(CONFIG_ENV)
    if env:
        return Path(env)
    local = Path(CONFIG_NAME)
    if local.is_file():
        return local
    raise ConfigNotFound(
        f"no config found: looked at --config (not given), ${CONFIG_ENV} (not set) and "
        f"./{CONFIG_NAME} (not in {Path.cwd()}); run `alpr init DIR` to write one, "
        "or add --demo for the embedded demo config"
    )


def demo_config() -> cfg.Config:
    """The embedded demo config, its data under build/demo where `alpr demo` leaves its results."""
    return cfg.load_embedded(DEMO_DIR.resolve())


def load_path(path: Path) -> cfg.Config:
    """A config file; the embedded demo file named explicitly keeps its public literal secrets."""
    return cfg.load(path, allow_literal=path.resolve() == DEFAULT_CONFIG.resolve())


def load_config(args: argparse.Namespace) -> cfg.Config:
    """The deployment config, or exit 2 with one line naming what is wrong (never a traceback)."""
    try:
        if getattr(args, "demo", False):
            return demo_config()
        return load_path(find_config(args))
    except ConfigNotFound as exc:
        print(f"alpr: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    except cfg.ConfigError as exc:
        print(f"alpr: config error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def open_store(args: argparse.Namespace) -> tuple[cfg.Config, Store]:
    config = load_config(args)
    return config, Store(config.data_dir)
