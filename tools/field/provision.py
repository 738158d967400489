"""`alpr provision`: a new camera's secret, its entry in the gateway config, and its site config.

The secret is generated here, written next to the config (mode 0600) and referenced from a new
`[[cameras]]` table appended to the config as text, so the chief's comments and layout stay byte
for byte. The firmware's site config (JSON, also 0600: it holds the secret) goes to the board with
`alpr deploy`. `--rotate CAM` gives a registered camera a new secret instead (tools/field/rotate.py).

Nothing the camera depends on is guessed silently: the gateway URL comes from `--gateway-url`, or is
proposed on a terminal and confirmed; the heading is required. The Wi-Fi password never goes on the
command line (where `ps` shows it to every user): it comes from `--password-file`, the environment
(`ALPR_WIFI_PASSWORD`) or a prompt.
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import json
import os
import secrets
import signal
import socket
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from gateway.config import Config, ConfigError, load
from gateway.reload import PID_NAME, running_pid

FRAME_SIZES = ("QVGA", "CIF", "HVGA", "VGA", "SVGA", "XGA", "HD", "SXGA", "UXGA")
PASSWORD_ENV = "ALPR_WIFI_PASSWORD"
PID_FILE = PID_NAME  # a running gateway's pid, in its data dir (gateway/reload.py)
# 6 V panel through 200k/100k: about 2.3 V at the pin in cold sun, within the ADC's range at 11 dB
BATTERY_DIVIDER, SOLAR_DIVIDER = 2.0, 3.0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # no abbreviations: `--password x` must not pass for `--password-file x`
    p = sub.add_parser(
        "provision",
        allow_abbrev=False,
        help="register a new camera (secret, config entry, site config) or rotate its secret",
    )
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--camera", help="id of the new camera, e.g. cam-03")
    who.add_argument(
        "--rotate",
        metavar="CAM",
        help="give a registered camera a new secret; the old one is accepted until the camera "
        "first uses the new one, or gateway.rotation_grace_hours",
    )
    p.add_argument("--config", required=True, type=Path, help="the gateway's deployment config")
    p.add_argument("--site", help="site id (default: the config's only site)")
    p.add_argument(
        "--heading",
        type=float,
        help="degrees clockwise from north the camera looks, 0-360 (required for a new camera)",
    )
    p.add_argument(
        "--gateway-url",
        "--gateway",
        dest="gateway_url",
        metavar="URL",
        help="http://HOST:PORT as the camera reaches the gateway (else proposed and confirmed "
        "on a terminal)",
    )
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
    p.add_argument(
        "--solar-divider",
        type=float,
        default=SOLAR_DIVIDER,
        help="solar input divider ratio (3.0: 200k/100k, for a 6 V panel)",
    )
    p.set_defaults(func=run)


def write_private(path: Path, data: str) -> None:
    """Create a file only its owner can read; refuse to overwrite one."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(data)


def replace_private(path: Path, data: str) -> None:
    """Write a file only its owner can read, replacing any old one at once (never half written)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    write_private(tmp, data)
    os.replace(tmp, path)


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


def check_url(url: str) -> str:
    """An http://HOST:PORT the firmware can use, or SystemExit naming what is wrong."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "http" or not parts.hostname or port is None:
        raise SystemExit(
            f"alpr provision: gateway URL {url!r}: expected http://HOST:PORT "
            "(the camera's firmware speaks plain HTTP; requests are signed)"
        )
    return url.rstrip("/")


def default_route_address() -> str | None:
    """This machine's address on its default route (no packet is sent), if it has one."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the route
            address = str(s.getsockname()[0])
    except OSError:
        return None
    return None if ipaddress.ip_address(address).is_loopback else address


def guess_gateway_url(config: Config) -> tuple[str | None, str]:
    """The best guess at the URL a camera reaches this gateway at, and why (None: no guess)."""
    host, port = config.listen_host, config.listen_port
    if host in ("0.0.0.0", "::", ""):
        address = default_route_address()
        if address is None:
            return None, f"the gateway listens on all addresses (port {port}); give its address"
        return f"http://{address}:{port}", (
            f"the gateway listens on all addresses; {address} is this machine's address on its "
            "default route, which may not be the network the cameras are on"
        )
    shown = f"[{host}]" if ":" in host else host
    why = f"the gateway listens on {host}:{port}"
    try:
        if ipaddress.ip_address(host).is_loopback:
            why += " (loopback only: a camera on the network cannot reach it)"
    except ValueError:
        pass
    return f"http://{shown}:{port}", why


def gateway_url(args: argparse.Namespace, config: Config) -> str:
    """--gateway-url; on a terminal, the best guess proposed and confirmed; else refused."""
    if args.gateway_url:
        return check_url(args.gateway_url)
    guess, why = guess_gateway_url(config)
    if not sys.stdin.isatty():
        hint = f"; this machine's guess would be {guess}" if guess else ""
        raise SystemExit(
            "alpr provision: no gateway URL: give --gateway-url http://HOST:PORT, the address "
            f"the camera reaches the gateway at ({why}{hint})"
        )
    print(why, file=sys.stderr)
    prompt = (
        f"gateway URL as the camera reaches it [{guess}]: "
        if guess
        else ("gateway URL as the camera reaches it (http://HOST:PORT): ")
    )
    answer = input(prompt).strip()
    if not answer and guess is None:
        raise SystemExit("alpr provision: no gateway URL given")
    return check_url(answer or guess or "")


def check_heading(heading: float | None) -> float:
    if heading is None:
        raise SystemExit(
            "alpr provision: give --heading DEG, the direction the camera looks "
            "(degrees clockwise from north, 0-360)"
        )
    if not 0 <= heading <= 360:
        raise SystemExit(f"alpr provision: --heading {heading:g} is out of range 0 to 360")
    return heading


def check_options(args: argparse.Namespace) -> None:
    if not 1 <= args.burst <= 16 or not 4 <= args.jpeg_quality <= 63:
        raise SystemExit("alpr provision: --burst is 1 to 16, --jpeg-quality 4 to 63")
    if not 0.1 <= args.solar_divider <= 100:
        raise SystemExit("alpr provision: --solar-divider is 0.1 to 100")


def check_camera_id(cam: str) -> None:
    if not cam or any(c in cam for c in " \"'\\/\n"):
        raise SystemExit(f"alpr provision: bad camera id {cam!r}")


def load_config(path: Path) -> Config:
    try:
        return load(path)
    except ConfigError as exc:
        raise SystemExit(f"alpr provision: {exc}") from None


def site_config(
    args: argparse.Namespace, camera: str, gateway: str, secret: str, password: str
) -> dict[str, Any]:
    return {
        "camera": camera,
        "gateway": gateway,
        "secret": secret,
        "wifi": {"ssid": args.ssid, "password": password},
        "burst": args.burst,
        "frame_size": args.frame_size,
        "jpeg_quality": args.jpeg_quality,
        "trigger": {"pin": args.trigger_pin, "level": 1, "kind": args.trigger},
        "adc": {
            "battery_pin": 14,
            "battery_divider": BATTERY_DIVIDER,
            "solar_pin": 15,
            "solar_divider": args.solar_divider,
        },
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
    if args.rotate is not None:
        from tools.field.rotate import rotate

        return rotate(args)
    config_path: Path = args.config
    config = load_config(config_path)
    cam = args.camera
    check_camera_id(cam)
    if cam in config.cameras:
        raise SystemExit(
            f"alpr provision: camera {cam!r} is already in {config_path} "
            f"(to give it a new secret: alpr provision --rotate {cam})"
        )
    site = args.site
    if site is None:
        if len(config.sites) != 1:
            raise SystemExit("alpr provision: the config has several sites: give --site")
        site = next(iter(config.sites))
    if site not in config.sites:
        raise SystemExit(f"alpr provision: unknown site {site!r}")
    heading = check_heading(args.heading)
    check_options(args)
    folder = config_path.resolve().parent
    secret_path = folder / f"{cam}.secret"
    out = args.out or folder / f"{cam}.site.json"
    for p in (secret_path, out):
        if p.exists():
            raise SystemExit(f"alpr provision: {p} exists; remove it or choose another camera id")
    gateway = gateway_url(args, config)
    password = wifi_password(args)
    secret = secrets.token_hex(32)
    write_private(secret_path, secret + "\n")
    original = config_path.read_bytes()
    table = (
        f'\n[[cameras]]\nid = "{cam}"\nsite = "{site}"\nheading = {heading:g}\n'
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
    conf = site_config(args, cam, gateway, secret, password)
    conf["max_event_bytes"] = config.max_body_bytes  # the camera never sends what would be refused
    write_private(out, json.dumps(conf, indent=2) + "\n")
    return secret_path, out


def tell_gateway(config: Config, why: str) -> str:
    """Ask a running gateway to reload (SIGHUP to the pid in its pid file), or say what to do."""
    restart = f"restart the gateway (`systemctl restart alpr-gateway`) so it {why}"
    pid, none = running_pid(config.data_dir)  # a pid file left by a crash is never signalled
    if pid is None:
        return restart if not (config.data_dir / PID_FILE).exists() else f"{none}; {restart}"
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        return f"the gateway (pid {pid}) has just stopped; {restart}"
    except PermissionError:
        return f"cannot signal the gateway (pid {pid}, another user); {restart}"
    return f"told the gateway (pid {pid}) to reload its config"


def run(args: argparse.Namespace) -> int:
    secret_path, out = provision(args)
    config = load_config(args.config)
    camera = args.rotate or args.camera
    gateway = json.loads(out.read_text())["gateway"]
    if args.rotate:
        print(f"camera {camera}: new secret in {secret_path} (0600); {args.config} updated, the "
              f"previous secret accepted until the camera first uses the new one, at most "
              f"{config.rotation_grace_hours:g} h")  # fmt: skip
    else:
        print(f"camera {camera}: secret in {secret_path} (0600), registered in {args.config}")
    print(f"site config for the board: {out}, gateway {gateway}")
    print(f"  next: alpr deploy --port P --site-config {out}")
    why = f"accepts {camera}'s new key" if args.rotate else f"knows {camera}"
    print(tell_gateway(config, why))
    return 0


def build_args(argv: list[str]) -> argparse.Namespace:
    """The parsed arguments of `alpr provision ARGV`, for callers other than the CLI (tests)."""
    parser = argparse.ArgumentParser(prog="alpr")
    register(parser.add_subparsers())
    return parser.parse_args(["provision", *argv])
