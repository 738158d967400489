"""What the `alpr` subcommands share: finding and loading the deployment config."""

from __future__ import annotations

import argparse
import os
import tomllib
from pathlib import Path

from gateway import config as cfg
from gateway.store import Store

DEFAULT_CONFIG = Path(cfg.__file__).with_name("default.toml")


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        help="deployment config (default: $ALPR_CONFIG, ./alpr.toml, "
        "else the embedded demo config)",
    )


def load_config(args: argparse.Namespace) -> cfg.Config:
    """The config named on the command line, in $ALPR_CONFIG or ./alpr.toml, else the embedded one."""
    path = args.config or (
        Path(os.environ["ALPR_CONFIG"]) if os.environ.get("ALPR_CONFIG") else None
    )
    if path is None and Path("alpr.toml").is_file():
        path = Path("alpr.toml")
    try:
        if path is not None:
            return cfg.load(path)
        return cfg.parse(tomllib.loads(DEFAULT_CONFIG.read_text()), Path.cwd())
    except cfg.ConfigError as exc:
        raise SystemExit(f"alpr: config error: {exc}") from None


def open_store(args: argparse.Namespace) -> tuple[cfg.Config, Store]:
    config = load_config(args)
    return config, Store(config.data_dir)
