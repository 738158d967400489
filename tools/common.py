"""What the `alpr` subcommands share: finding and loading the deployment config."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from gateway import config as cfg
from gateway.store import Store

DEFAULT_CONFIG = cfg.EMBEDDED


def add_config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        type=Path,
        help="deployment config (default: $ALPR_CONFIG, ./alpr.toml, "
        "else the embedded demo config)",
    )


def config_path(args: argparse.Namespace) -> Path | None:
    """--config, else $ALPR_CONFIG, else ./alpr.toml when it exists; None: the embedded one."""
    path: Path | None = args.config or (
        Path(os.environ["ALPR_CONFIG"]) if os.environ.get("ALPR_CONFIG") else None
    )
    if path is None and Path("alpr.toml").is_file():
        path = Path("alpr.toml")
    return path


def load_from(path: Path | None) -> cfg.Config:
    """A config file, or the embedded demo one (None); ConfigError names every problem."""
    if path is None:
        return cfg.load_embedded(Path.cwd())
    # the embedded demo file named explicitly keeps its public literal secrets
    return cfg.load(path, allow_literal=path.resolve() == DEFAULT_CONFIG.resolve())


def load_config(args: argparse.Namespace) -> cfg.Config:
    """The config named on the command line, in $ALPR_CONFIG or ./alpr.toml, else the embedded one."""
    try:
        return load_from(config_path(args))
    except cfg.ConfigError as exc:
        raise SystemExit(f"alpr: config error: {exc}") from None


def open_store(args: argparse.Namespace) -> tuple[cfg.Config, Store]:
    config = load_config(args)
    return config, Store(config.data_dir)
