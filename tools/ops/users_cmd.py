"""`alpr users add|disable|enable|roles|sites|train|passwd|totp|token|list|settings` and
`alpr login|logout|whoami`."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable

import pyotp

from gateway.access import audit, sessions, settings, users
from gateway.access.db import AccessDB
from gateway.access.roles import ROLES, AccessDenied
from tools.common import add_config_arg
from tools.ops import auth


def _parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    func: object,
    cmd: str,
) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help)
    add_config_arg(p)
    p.set_defaults(func=func, cmd=cmd)
    return p


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    u = sub.add_parser("users", help="user accounts, roles, training and API tokens (admin)")
    us = u.add_subparsers(dest="users_command", required=True)
    add = _parser(us, "add", "create a user", run_add, "users add")
    add.add_argument("name")
    add.add_argument("--role", action="append", required=True, choices=ROLES)
    add.add_argument("--site", action="append", default=[], help="an officer's own site")
    add.add_argument("--trained-on", help="training completed (YYYY-MM-DD)")
    add.add_argument("--training-expires", help="default: the training date plus a year")
    add.add_argument(
        "--bootstrap", action="store_true", help="the first admin, only while no user exists"
    )
    auth.add_password_arg(add)
    for name, func, what in (("disable", run_disable, "disable"), ("enable", run_enable, "enable")):
        p = _parser(us, name, f"{what} an account", func, f"users {name}")
        p.add_argument("name")
    r = _parser(us, "roles", "replace a user's roles", run_roles, "users roles")
    r.add_argument("name")
    r.add_argument("--role", action="append", required=True, choices=ROLES)
    s = _parser(us, "sites", "replace an officer's own sites", run_sites, "users sites")
    s.add_argument("name")
    s.add_argument("--site", action="append", default=[])
    t = _parser(us, "train", "record completed training", run_train, "users train")
    t.add_argument("name")
    t.add_argument("--on", required=True, help="YYYY-MM-DD")
    t.add_argument("--expires", help="YYYY-MM-DD; default: --on plus the validity setting")
    pw = _parser(
        us, "passwd", "change a password (your own, or any as admin)", run_passwd, "users passwd"
    )
    pw.add_argument("name", nargs="?")
    auth.add_password_arg(pw)
    tf = _parser(us, "totp", "enrol a new second factor for a user", run_totp, "users totp")
    tf.add_argument("name")
    tk = _parser(
        us, "token", "an API token for an integration (printed once)", run_token, "users token"
    )
    tk.add_argument("name")
    tk.add_argument("--role", action="append", choices=ROLES, help="default: all the user's roles")
    tk.add_argument("--days", type=float, default=365.0)
    ls = _parser(us, "list", "list users", run_list, "users list")
    ls.add_argument("--json", action="store_true")
    st = _parser(us, "settings", "show or change access settings", run_settings, "users settings")
    st.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")

    li = _parser(
        sub, "login", "log in; leaves a short-lived token for later commands", run_login, "login"
    )
    li.add_argument("name")
    li.add_argument("--totp", help="the code (else $ALPR_TOTP, else a prompt when needed)")
    auth.add_password_arg(li)
    _parser(sub, "logout", "end the session", run_logout, "logout")
    _parser(sub, "whoami", "who is logged in, roles, training", run_whoami, "whoami")


def _fail(exc: Exception) -> int:
    print(f"alpr: {exc}", file=sys.stderr)
    return 2


def _show_secret(name: str, secret: str | None) -> None:
    if secret:
        uri = pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name="fixed-alpr")
        print(f"second factor for {name} (shown once; enter it in an authenticator app):")
        print(f"  secret: {secret}")
        print(f"  uri:    {uri}")


def run_add(args: argparse.Namespace) -> int:
    if args.bootstrap:
        _, db, s = auth.open_access(args)
        if users.count(db):
            return _fail(ValueError("--bootstrap: users exist already; log in as an admin"))
        if "admin" not in args.role or not args.trained_on:
            return _fail(
                ValueError("--bootstrap: the first user needs --role admin and --trained-on")
            )
        by, source = args.name, auth.source()
    else:
        ctx = auth.authorize(args, "users.manage")
        db, s, by, source = ctx.db, ctx.settings, ctx.user.name, ctx.source
    password = auth.read_password(args, f"password for {args.name}: ", confirm=True)
    try:
        user, secret = users.add(db, args.name, password, args.role, by, source, s, args.site)
        if args.trained_on:
            user = users.train(db, user.name, args.trained_on, args.training_expires, by, source, s)
    except (users.UserError, ValueError) as exc:
        return _fail(exc)
    print(
        f"user {user.name}: {', '.join(sorted(user.roles))}; training until {user.training_expires}"
    )
    _show_secret(user.name, secret)
    return 0


def _admin_change(args: argparse.Namespace, change: Callable[[auth.Context], users.User]) -> int:
    ctx = auth.authorize(args, "users.manage")
    try:
        user = change(ctx)
    except (users.UserError, ValueError) as exc:
        return _fail(exc)
    print(json.dumps(user.as_json()))
    return 0


def run_disable(args: argparse.Namespace) -> int:
    return _admin_change(
        args, lambda c: users.set_enabled(c.db, args.name, False, c.user.name, c.source)
    )


def run_enable(args: argparse.Namespace) -> int:
    return _admin_change(
        args, lambda c: users.set_enabled(c.db, args.name, True, c.user.name, c.source)
    )


def run_sites(args: argparse.Namespace) -> int:
    return _admin_change(
        args, lambda c: users.set_sites(c.db, args.name, args.site, c.user.name, c.source)
    )


def run_train(args: argparse.Namespace) -> int:
    return _admin_change(
        args,
        lambda c: users.train(
            c.db, args.name, args.on, args.expires, c.user.name, c.source, c.settings
        ),
    )


def run_roles(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "users.manage")
    try:
        user, secret = users.set_roles(
            ctx.db, args.name, args.role, ctx.user.name, ctx.source, ctx.settings
        )
    except users.UserError as exc:
        return _fail(exc)
    print(json.dumps(user.as_json()))
    _show_secret(user.name, secret)
    return 0


def run_totp(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "users.manage")
    try:
        secret = users.enroll_totp(ctx.db, args.name, ctx.user.name, ctx.source)
    except users.UserError as exc:
        return _fail(exc)
    _show_secret(args.name, secret)
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    """Anyone logged in changes their own password; only an admin changes another's."""
    ctx = auth.current_user(args)
    name = args.name or ctx.user.name
    if name != ctx.user.name:
        ctx = auth.authorize(args, "users.manage")
    password = auth.read_password(args, f"new password for {name}: ", confirm=True)
    try:
        users.set_password(ctx.db, name, password, ctx.user.name, ctx.source)
    except users.UserError as exc:
        return _fail(exc)
    print(f"password changed for {name}")
    return 0


def run_token(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "users.manage")
    try:
        token = sessions.api_token(
            ctx.db, args.name, args.role, args.days, ctx.user.name, ctx.source
        )
    except users.UserError as exc:
        return _fail(exc)
    print(token)
    print(
        f"(an API token for {args.name}, valid {args.days:g} days; shown only now)", file=sys.stderr
    )
    return 0


def run_list(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "users.manage")
    for user in users.list_users(ctx.db):
        if args.json:
            print(json.dumps(user.as_json()))
        else:
            state = "enabled" if user.enabled else "DISABLED"
            print(
                f"{user.name:<16} {','.join(sorted(user.roles)):<24} {state:<8} "
                f"training until {user.training_expires or 'NONE'}"
            )
    return 0


def run_settings(args: argparse.Namespace) -> int:
    ctx = auth.authorize(args, "settings.edit")
    current = ctx.settings
    if args.set:
        changes = {}
        for item in args.set:
            key, sep, value = item.partition("=")
            if not sep:
                return _fail(ValueError(f"--set {item!r}: expected KEY=VALUE"))
            changes[key.strip()] = value.strip()
        try:
            current = settings.update(ctx.db, changes)
        except ValueError as exc:
            return _fail(exc)
        audit.append(
            ctx.db, ctx.user.name, "settings", kind="user", what=changes, source=ctx.source
        )
    print(json.dumps(current.__dict__, sort_keys=True))
    return 0


def _needs_code(db: AccessDB, name: str, s: settings.AccessSettings) -> bool:
    try:
        return users.needs_second_factor(users.get(db, name), s)
    except users.UserError:
        return False


def run_login(args: argparse.Namespace) -> int:
    _, db, s = auth.open_access(args)
    password = auth.read_password(args, f"password for {args.name}: ")
    code = args.totp or os.environ.get("ALPR_TOTP")
    if not code and _needs_code(db, args.name, s) and sys.stdin.isatty():
        code = input("TOTP code: ").strip()
    try:
        token, user = sessions.login(db, args.name, password, code, auth.source(), s)
    except AccessDenied as exc:
        return _fail(exc)
    path = auth.save_token(token, args)
    print(
        f"logged in as {user.name} ({', '.join(sorted(user.roles))}) for {s.session_hours:g} h; token in {path}"
    )
    warning = users.training_warning(user, s, dt.datetime.now(dt.UTC).date())
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


def run_logout(args: argparse.Namespace) -> int:
    _, db, _ = auth.open_access(args)
    token = auth.read_token(args)
    name = sessions.logout(db, token, auth.source()) if token else None
    auth.token_path(args).unlink(missing_ok=True)
    print(f"logged out {name}" if name else "no session was open")
    return 0


def run_whoami(args: argparse.Namespace) -> int:
    ctx = auth.current_user(args)
    u = ctx.user
    print(
        json.dumps(
            {
                "name": u.name,
                "roles": sorted(u.roles),
                "sites": sorted(u.sites),
                "via": u.via,
                "training_expires": u.training_expires,
                "history_role": ctx.settings.history_role,
            }
        )
    )
    return 0
