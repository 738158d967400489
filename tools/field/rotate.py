"""`alpr provision --rotate CAM`: a new secret for a registered camera, without locking it out.

The new key goes to a new file (0600) that the camera's `secret` then names; the old reference moves
to `previous_secret` with `rotated_at`, so the gateway accepts both until the camera first signs with
the new key (gateway/camera_keys.py), at most `gateway.rotation_grace_hours`. The config is edited
as text, only the lines of that camera's table, and validated afterwards (undone if it fails). The
board's site config is rewritten with the new key, the rest kept as deployed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import re
import secrets
import time
from pathlib import Path
from typing import Any

from gateway.camera_keys import has_used
from gateway.config import Config, ConfigError, load
from tools.field import provision as prov

HEADER = re.compile(r"^\s*\[")
VALUE = r"(\"(?:[^\"\\]|\\.)*\"|'[^']*')"
SECRET_LINE = re.compile(rf"^(\s*)secret\s*=\s*{VALUE}\s*(#.*)?$")
ROTATION_LINE = re.compile(r"^\s*(previous_secret|rotated_at)\s*=")


def camera_block(lines: list[str], camera: str) -> tuple[int, int]:
    """[start, end) of the lines of the `[[cameras]]` table whose id is `camera`."""
    id_line = re.compile(rf"^\s*id\s*=\s*[\"']{re.escape(camera)}[\"']\s*(#.*)?$")
    start: int | None = None
    for i, line in enumerate([*lines, "["]):
        if HEADER.match(line):
            if start is not None and any(id_line.match(x) for x in lines[start:i]):
                return start, i
            start = i if re.match(r"^\s*\[\[\s*cameras\s*\]\]", line) else None
    raise SystemExit(
        f'alpr provision: cannot find a [[cameras]] table with id = "{camera}" written as '
        "its own lines in the config; rotate this camera's secret by hand"
    )


def edited(text: str, camera: str, new_ref: str, when: dt.datetime) -> str:
    """The config text with the camera's secret replaced and the old one kept as previous."""
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start, end = camera_block(lines, camera)
    block = [x for x in lines[start:end] if not ROTATION_LINE.match(x)]
    for i, line in enumerate(block):
        m = SECRET_LINE.match(line.rstrip("\n"))
        if m:
            indent, old = m.group(1), m.group(2)
            stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
            block[i : i + 1] = [
                f'{indent}secret = "{new_ref}"\n',
                f"{indent}previous_secret = {old}\n",
                f"{indent}rotated_at = {stamp}\n",
            ]
            return "".join(lines[:start] + block + lines[end:])
    raise SystemExit(
        f'alpr provision: the table of {camera} has no `secret = "..."` line; '
        "rotate this camera's secret by hand"
    )


def check_not_pending(config: Config, camera: str, site_json: Path) -> None:
    """Refuse a second rotation while the board may still hold the key before the first: replacing
    `previous_secret` then would lock the camera out."""
    cam = config.cameras[camera]
    if cam.previous_secret_ref is None or cam.rotated_at is None:
        return
    until = cam.rotated_at + config.rotation_grace_hours * 3600
    if time.time() > until:
        return
    try:
        if has_used(config.data_dir / "gateway.db", camera, config.secret(camera)):
            return
    except ConfigError as exc:
        raise SystemExit(f"alpr provision: {exc}") from None
    ends = dt.datetime.fromtimestamp(until, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    raise SystemExit(
        f"alpr provision: {camera}'s last rotation is not finished: the camera has not yet "
        f"used its new key, so the board may still hold the previous one. Deploy {site_json} "
        f"(alpr deploy) and let the camera reach the gateway once, or wait until {ends}"
    )


def board_config(
    args: argparse.Namespace, config: Config, camera: str, out: Path
) -> dict[str, Any]:
    """The site config to give the new key: the one deployed (next to the config), else new."""
    if out.exists():
        try:
            conf = json.loads(out.read_text())
        except (OSError, ValueError) as exc:
            raise SystemExit(f"alpr provision: cannot read {out}: {exc}") from None
        if not isinstance(conf, dict) or conf.get("camera") != camera:
            raise SystemExit(f"alpr provision: {out} is not {camera}'s site config")
        if args.gateway_url:
            conf["gateway"] = prov.check_url(args.gateway_url)
        return conf
    prov.check_options(args)
    gateway = prov.gateway_url(args, config)
    conf = prov.site_config(args, camera, gateway, "", prov.wifi_password(args))
    conf["max_event_bytes"] = config.max_body_bytes
    return conf


def rotate(args: argparse.Namespace) -> tuple[Path, Path]:
    """Give `args.rotate` a new secret; return (its file, the new site config)."""
    config_path: Path = args.config
    config = prov.load_config(config_path)
    camera: str = args.rotate
    if camera not in config.cameras:
        raise SystemExit(f"alpr provision: no camera {camera!r} in {config_path}")
    folder = config_path.resolve().parent
    out: Path = args.out or folder / f"{camera}.site.json"
    check_not_pending(config, camera, out)
    conf = board_config(args, config, camera, out)
    try:
        old_secret = config.secret(camera)
    except ConfigError as exc:
        raise SystemExit(f"alpr provision: {exc}") from None
    now = dt.datetime.now(dt.UTC)
    secret_path = next(
        p for n in itertools.count(2) if not (p := folder / f"{camera}.{n}.secret").exists()
    )
    original = config_path.read_bytes().decode()
    text = edited(original, camera, f"file:{secret_path.name}", now)
    secret = secrets.token_hex(32)
    prov.write_private(secret_path, secret + "\n")
    config_path.write_bytes(text.encode())
    try:
        updated = load(config_path)
        if (
            updated.secret(camera) != secret.encode()
            or updated.previous_secret(camera) != old_secret
        ):
            raise ConfigError(f"cameras.{camera}: the edit did not take (unusual layout?)")
    except ConfigError as exc:
        config_path.write_bytes(original.encode())
        secret_path.unlink()
        raise SystemExit(f"alpr provision: the rotation does not validate, undone: {exc}") from None
    conf["secret"] = secret
    prov.replace_private(out, json.dumps(conf, indent=2) + "\n")
    return secret_path, out
