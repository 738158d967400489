"""The command line as a logged-in user: the token file, `current_user`, `authorize` and `record`.

Commands call `authorize(args, action)`; it checks the session and the role through
`gateway.access.roles.require` (the one place roles are checked) and logs a refusal. What the user
then looks at or changes goes into the audit log through `record`, under the name from the token.
"""

from __future__ import annotations

import argparse
import datetime as dt
import getpass
import logging
import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from gateway import config as cfg
from gateway.access import audit, sessions, settings, users
from gateway.access.db import AccessDB
from gateway.access.roles import AccessDenied, Principal, ReadScope, read_scope, require
from tools.common import DEMO_DIR, load_config

log = logging.getLogger("alpr.access")


@dataclass(frozen=True)
class Context:
    config: cfg.Config
    db: AccessDB
    settings: settings.AccessSettings
    user: Principal
    source: str


def source() -> str:
    """Where a command comes from: the operating-system account, the host and any SSH client."""
    where = f"cli:{getpass.getuser()}@{socket.gethostname()}"
    ssh = os.environ.get("SSH_CONNECTION", "").split()
    return f"{where} ssh:{ssh[0]}" if ssh else where


def token_path(args: argparse.Namespace | None = None) -> Path:
    """$ALPR_TOKEN_FILE, else the user's config folder; with --demo, the demo's own login."""
    if args is not None and getattr(args, "demo", False):
        return DEMO_DIR.resolve() / "token"
    if os.environ.get("ALPR_TOKEN_FILE"):
        return Path(os.environ["ALPR_TOKEN_FILE"])
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "alpr" / "token"


def save_token(token: str, args: argparse.Namespace | None = None) -> Path:
    """Write the token readable by its owner only (0600), in a folder only they can enter."""
    path = token_path(args)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, token.encode() + b"\n")
    finally:
        os.close(fd)
    return path


def read_token(args: argparse.Namespace | None = None) -> str | None:
    path = token_path(args)
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def open_access(args: argparse.Namespace) -> tuple[cfg.Config, AccessDB, settings.AccessSettings]:
    config = load_config(args)
    db = AccessDB(config.data_dir)
    return config, db, settings.load(db)


def current_user(args: argparse.Namespace) -> Context:
    """The logged-in user: a live token, an enabled account, current training; else exit."""
    config, db, s = open_access(args)
    token = read_token(args)
    if token is None and getattr(args, "demo", False):
        raise SystemExit("alpr: not logged in to the demo: run `alpr demo` first")
    if token is None:
        raise SystemExit("alpr: not logged in: run `alpr login NAME`")
    try:
        who = sessions.principal(db, token)
    except AccessDenied as exc:
        raise SystemExit(f"alpr: {exc}") from None
    warning = users.training_warning(who, s, dt.datetime.now(dt.UTC).date())
    if warning:
        log.warning("%s: %s", who.name, warning)
    return Context(config, db, s, who, source())


def authorize(args: argparse.Namespace, action: str) -> Context:
    """current_user, then the role check; a refusal is logged in the audit log and exits."""
    ctx = current_user(args)
    try:
        require(ctx.user, action, ctx.settings.history_role)
    except AccessDenied as exc:
        refuse(ctx, args, action, exc)
    return ctx


def reads_scope(args: argparse.Namespace, now: float) -> tuple[Context, ReadScope]:
    """Which reads the logged-in user may search: all of them for the history role, the last
    24 h at their own sites for an officer; a refusal is logged and exits, as in `authorize`."""
    ctx = current_user(args)
    try:
        scope = read_scope(ctx.user, now, ctx.settings.history_role)
    except AccessDenied as exc:
        refuse(ctx, args, "reads.recent", exc)
    return ctx, scope


def refuse(ctx: Context, args: argparse.Namespace, action: str, exc: AccessDenied) -> NoReturn:
    audit.append(
        ctx.db,
        ctx.user.name,
        "denied",
        kind="denied",
        what={"action": action, "command": command_name(args)},
        why=str(exc),
        source=ctx.source,
    )
    raise SystemExit(f"alpr: refused: {exc}") from None


def command_name(args: argparse.Namespace) -> str:
    """`reads list`, `hotlist add`: the command and its subcommand, as typed."""
    words = [getattr(args, "command", None) or getattr(args, "cmd", None) or ""]
    words += [str(v) for k, v in sorted(vars(args).items()) if k.endswith("_command") and v]
    return " ".join(w for w in words if w)


def record(
    ctx: Context,
    action: str,
    kind: str,
    what: dict[str, Any],
    why: str = "",
    result_count: int = 0,
) -> None:
    """One audit record of what the logged-in user looked at or changed, before it is shown."""
    audit.append(
        ctx.db,
        ctx.user.name,
        action,
        kind=kind,
        what=what,
        why=why,
        source=ctx.source,
        result_count=result_count,
    )


def read_password(args: argparse.Namespace, prompt: str, confirm: bool = False) -> str:
    """From --password-file, $ALPR_PASSWORD (scripts and tests), else asked without echo."""
    if getattr(args, "password_file", None):
        try:
            return Path(args.password_file).read_text().rstrip("\r\n")
        except OSError as exc:
            raise SystemExit(f"alpr: cannot read {args.password_file}: {exc.strerror}") from None
    if os.environ.get("ALPR_PASSWORD"):
        return os.environ["ALPR_PASSWORD"]
    if not sys.stdin.isatty():
        raise SystemExit("alpr: no terminal to ask for a password: use --password-file")
    first = getpass.getpass(prompt)
    if confirm and getpass.getpass("again: ") != first:
        raise SystemExit("alpr: the passwords differ")
    return first


def add_password_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--password-file",
        type=Path,
        help="read the password from this file (else $ALPR_PASSWORD, else a prompt)",
    )
