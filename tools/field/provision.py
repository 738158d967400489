"""`alpr provision`: a new camera's secret, its entry in the gateway config, and its site config.

The secret is generated here, written next to the config (mode 0600) and referenced from a new
`[[cameras]]` table appended to the config as text, so the chief's comments and layout stay byte
for byte. The firmware's site config (JSON, also 0600: it holds the secret) goes to the board with
`alpr deploy`.

The Wi-Fi password never goes on the command line (where `ps` shows it to every user): it comes
from `--password-file`, the environment (`ALPR_WIFI_PASSWORD`) or a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from gateway.config import ConfigError, load

FRAME_SIZES = ("QVGA", "CIF", "HVGA", "VGA", "SVGA", "XGA", "HD", "SXGA", "UXGA")
PASSWORD_ENV = "ALPR_WIFI_PASSWORD"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # no abbreviations: `--password x` must not pass for `--password-file x`
    p = sub.add_parser(
        "provision",
        allow_abbrev=False,
        help="register a new camera: secret, config entry, site config",
    )
    p.add_argument("--camera", required=True, help="camera id, e.g. cam-03")
    p.add_argument("--config", required=True, type=Path, help="the gateway's deployment config")
    p.add_argument("--site", help="site id (default: the config's only site)")
    p.add_argument("--heading", type=float, default=0.0, help="degrees clockwise from north")
    p.add_argument("--gateway", help="gateway URL as the camera reaches it (default: listen)")
    p.add_argument("--ssid", default="SET-ME", help="site Wi-Fi SSID")
    p.add_argument(
        "--password-file",
        type=Path,
        help=f"file holding the site Wi-Fi password (else ${PASSWORD_ENV}, else a prompt)",
    )
    p.add_argument("--out", type=Path, help="site config to write (default: CAMERA.site.json)")
    p.add_argument("--burst", type=int, default=3, help="frames per trigger (1-16)")
    p.add_argument("--frame-size", default="VGA", choices=FRAME_SIZES)
    p.add_argument("--jpeg-quality", type=int, default=12, help="4 (best) to 63")
    p.add_argument("--trigger-pin", type=int, default=13, help="RTC-capable GPIO of the sensor")
    p.add_argument("--trigger", default="radar", choices=("radar", "pir", "beam"))
    p.add_argument("--heartbeat-s", type=int, default=3600)
    p.add_argument("--low-v", type=float, default=3.45, help="below: heartbeats only")
    p.add_argument("--critical-v", type=float, default=3.3, help="below: long sleep")
    p.set_defaults(func=run)


def write_private(path: Path, data: str) -> None:
    """Create a file only its owner can read; refuse to overwrite one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)


def wifi_password(args: argparse.Namespace) -> str:
    """The site Wi-Fi password from --password-file, $ALPR_WIFI_PASSWORD or a prompt, in that order."""
    if args.password_file is not None:
        try:
            lines = args.password_file.read_text().splitlines()
        except OSError as exc:
            raise SystemExit(f"alpr provision: cannot read --password-file: {exc}") from None
        return lines[0] if lines else ""
    if PASSWORD_ENV in os.environ:
        return os.environ[PASSWORD_ENV]
    if not sys.stdin.isatty():
        raise SystemExit(
            f"alpr provision: no Wi-Fi password: give --password-file or set {PASSWORD_ENV}"
        )
    return getpass.getpass(f"Wi-Fi password for {args.ssid}: ")


def site_config(
    args: argparse.Namespace, gateway: str, secret: str, password: str
) -> dict[str, Any]:
    return {
        "camera": args.camera,
        "gateway": gateway,
        "secret": secret,
        "wifi": {"ssid": args.ssid, "password": password},
        "burst": args.burst,
        "frame_size": args.frame_size,
        "jpeg_quality": args.jpeg_quality,
        "trigger": {"pin": args.trigger_pin, "level": 1, "kind": args.trigger},
        "adc": {"battery_pin": 14, "battery_divider": 2.0, "solar_pin": 15, "solar_divider": 2.0},
        "thresholds": {"low_v": args.low_v, "critical_v": args.critical_v},
        "heartbeat_s": args.heartbeat_s,
        "critical_sleep_s": 21600,
        "wifi_timeout_ms": 8000,
        "http_timeout_s": 8,
        "queue_max": 20,
        "ntp": None,
    }


def provision(args: argparse.Namespace) -> tuple[Path, Path]:
    """Do the work; return (secret file, site config). Errors are SystemExit with the reason."""
    config_path: Path = args.config
    try:
        config = load(config_path)
    except ConfigError as exc:
        raise SystemExit(f"alpr provision: {exc}") from None
    cam = args.camera
    if not cam or any(c in cam for c in " \"'\\/\n"):
        raise SystemExit(f"alpr provision: bad camera id {cam!r}")
    if cam in config.cameras:
        raise SystemExit(f"alpr provision: camera {cam!r} is already in {config_path}")
    site = args.site
    if site is None:
        if len(config.sites) != 1:
            raise SystemExit("alpr provision: the config has several sites: give --site")
        site = next(iter(config.sites))
    if site not in config.sites:
        raise SystemExit(f"alpr provision: unknown site {site!r}")
    if not 1 <= args.burst <= 16 or not 4 <= args.jpeg_quality <= 63:
        raise SystemExit("alpr provision: --burst is 1 to 16, --jpeg-quality 4 to 63")
    host = config.listen_host if config.listen_host not in ("0.0.0.0", "::") else "192.168.4.1"
    gateway = args.gateway or f"http://{host}:{config.listen_port}"
    if not gateway.startswith("http://"):
        raise SystemExit("alpr provision: --gateway must be an http:// URL")
    folder = config_path.resolve().parent
    secret_path = folder / f"{cam}.secret"
    out = args.out or folder / f"{cam}.site.json"
    for p in (secret_path, out):
        if p.exists():
            raise SystemExit(f"alpr provision: {p} exists; remove it or choose another camera id")
    password = wifi_password(args)
    secret = secrets.token_hex(32)
    write_private(secret_path, secret + "\n")
    original = config_path.read_bytes()
    table = (
        f'\n[[cameras]]\nid = "{cam}"\nsite = "{site}"\nheading = {args.heading:g}\n'
        f'secret = "file:{secret_path.name}"\n'
    )
    sep = b"" if original.endswith(b"\n") or not original else b"\n"
    config_path.write_bytes(original + sep + table.encode())
    try:
        load(config_path)
    except ConfigError as exc:
        config_path.write_bytes(original)
        secret_path.unlink()
        raise SystemExit(
            f"alpr provision: the new entry does not validate, undone: {exc}"
        ) from None
    write_private(out, json.dumps(site_config(args, gateway, secret, password), indent=2) + "\n")
    return secret_path, out


def run(args: argparse.Namespace) -> int:
    secret_path, out = provision(args)
    print(f"camera {args.camera}: secret in {secret_path} (0600), registered in {args.config}")
    print(f"site config for the board: {out}  (next: alpr deploy --port P --site-config {out})")
    return 0


def build_args(argv: list[str]) -> argparse.Namespace:
    """The parsed arguments of `alpr provision ARGV`, for callers other than the CLI (tests)."""
    parser = argparse.ArgumentParser(prog="alpr")
    register(parser.add_subparsers())
    return parser.parse_args(["provision", *argv])
