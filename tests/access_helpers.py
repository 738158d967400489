"""Logged-in users for tests of the data commands.

A bootstrap admin adds one user per role, each with current training and a token file of its own
(`ALPR_TOKEN_FILE`), logged in through the real password and TOTP check. `lapsed` holds every data
role but its training ran out after it logged in, so everything it tries is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyotp
from argon2 import PasswordHasher

from gateway.access import audit, sessions, settings, users
from gateway.access.db import AccessDB
from tools.cli import main

PASSWORD = "correct horse battery"
# real argon2 at a small cost, so that a team is made in milliseconds
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
SOURCE = "test"
DATA_ROLES = ("officer", "investigator", "manager", "technician")


def day(offset: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=offset)).isoformat()


class Team:
    """Users of one gateway's access database; `cli`/`run` act as one of them."""

    def __init__(self, data_dir: Path, tokens: Path) -> None:
        self.db = AccessDB(data_dir)
        self.settings = settings.load(self.db)
        self.tokens = tokens
        tokens.mkdir(parents=True, exist_ok=True)
        self.add("boss", "admin", by="bootstrap")

    def add(self, name: str, *roles: str, sites: tuple[str, ...] = (), by: str = "boss") -> None:
        """Create, train until 200 days from now, and log in (token in `tokens/NAME`)."""
        _, secret = users.add(
            self.db, name, PASSWORD, list(roles), by, SOURCE, self.settings, list(sites)
        )
        users.train(self.db, name, day(-30), day(200), "boss", SOURCE, self.settings)
        code = pyotp.TOTP(secret).now() if secret else None
        token, _ = sessions.login(self.db, name, PASSWORD, code, SOURCE, self.settings)
        self.token_file(name).write_text(token + "\n")

    def expire_training(self, name: str) -> None:
        users.train(self.db, name, day(-400), day(-1), "boss", SOURCE, self.settings)

    def token_file(self, name: str | None) -> Path:
        return self.tokens / (name or "nobody")

    def env(self, name: str | None) -> dict[str, str]:
        return {**os.environ, "ALPR_TOKEN_FILE": str(self.token_file(name))}

    def run(self, *args: str, user: str | None) -> subprocess.CompletedProcess[str]:
        """`alpr ARGS` in a process of its own, logged in as `user` (None: not logged in)."""
        return subprocess.run(
            [sys.executable, "-m", "tools.cli", *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=self.env(user),
        )

    def cli(self, *args: str, user: str | None) -> tuple[int, str, str]:
        """`alpr ARGS` in this process (faster); returns exit status, stdout and stderr."""
        saved = os.environ.get("ALPR_TOKEN_FILE")
        os.environ["ALPR_TOKEN_FILE"] = str(self.token_file(user))
        out, err = io.StringIO(), io.StringIO()
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else 2
                    err.write(f"{exc.code}\n" if not isinstance(exc.code, int) else "")
        finally:
            if saved is None:
                os.environ.pop("ALPR_TOKEN_FILE", None)
            else:
                os.environ["ALPR_TOKEN_FILE"] = saved
        return code, out.getvalue(), err.getvalue()

    def records(self, user: str | None = None, kinds: tuple[str, ...] = ()) -> list[dict[str, Any]]:
        return list(audit.records(self.db, user=user, kinds=kinds))


def standard_team(data_dir: Path, tokens: Path, sites: tuple[str, ...] = ("s1",)) -> Team:
    """boss (admin), ofc (officer at `sites`), inv, mgr, tech, aud, and lapsed (every data role,
    training expired after its login)."""
    team = Team(data_dir, tokens)
    team.add("ofc", "officer", sites=sites)
    team.add("inv", "investigator")
    team.add("mgr", "manager")
    team.add("tech", "technician")
    team.add("aud", "auditor")
    team.add("lapsed", *DATA_ROLES, sites=sites)
    team.expire_training("lapsed")
    return team
