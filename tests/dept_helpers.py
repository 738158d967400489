"""A small department for workflow tests: a config with an MOU registry, a use policy and sites in
every status; users in each role logged in through the real `alpr login`; reads in a real store."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import os
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher
from gateway_helpers import write_secret

from gateway.access import users
from gateway.access.db import AccessDB
from gateway.config import load
from gateway.store import Store
from tools.cli import main

PASSWORD = "correct horse battery"
CONFIG = """
[agency]
name = "Test County Sheriff"
retention_days = 30

[gateway]
data_dir = "data"

[policy]
allowed_uses = ["stolen vehicles", "missing persons"]
prohibited_uses = ["immigration enforcement", "lawful protest or assembly"]

[[sharing.agencies]]
name = "Northbrook PD"
mou_signed = 2025-03-01
contact = "Lt. A. Moss"

[[sharing.agencies]]
name = "State Police"
contact = "Sgt. B. Lee"

[[sites]]
id = "s1"
name = "Main St"
lat = 40.0
lon = -88.0
heading = 90
status = "installed"
approved_by = "Chief"
approved_on = 2026-01-01

[[sites]]
id = "s2"
name = "Old Mill Rd"
lat = 40.01
lon = -88.01
heading = 180
status = "retired"

[[sites]]
id = "s3"
name = "Elm St"
lat = 40.02
lon = -88.02
heading = 270
status = "planned"

[[cameras]]
id = "cam-01"
site = "s1"
heading = 90
secret = "file:cam-01.key"

[[cameras]]
id = "cam-02"
site = "s2"
heading = 180
secret = "file:cam-02.key"
"""


def later(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)).isoformat()


class Dept:
    """The config, a password file and one token file per user."""

    def __init__(self, root: Path) -> None:
        self.root = root
        write_secret(root, "cam-01.key", "secret-one")
        write_secret(root, "cam-02.key", "secret-two")
        self.config = root / "alpr.toml"
        self.config.write_text(CONFIG)
        self.pw = root / "pw"
        self.pw.write_text(PASSWORD + "\n")
        self.secrets: dict[str, str] = {}
        self.store = Store(load(self.config).data_dir)

    def run(self, *args: str, as_user: str | None = None) -> tuple[int, str, str]:
        """`alpr ARGS --config F` in this process as a user; (exit status, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        os.environ["ALPR_TOKEN_FILE"] = str(self.root / f"token-{as_user or 'none'}")
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([*args[:2], "--config", str(self.config), *args[2:]])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
                err.write(str(exc.code))
        return code, out.getvalue(), err.getvalue()

    def ok(self, *args: str, as_user: str | None = None) -> str:
        code, out, err = self.run(*args, as_user=as_user)
        assert code == 0, err
        return out

    def add(self, name: str, role: str, by: str = "boss", bootstrap: bool = False) -> None:
        out = self.ok(
            "users", "add", name, "--role", role, "--trained-on", "2026-01-01",
            "--training-expires", later(200), "--password-file", str(self.pw),
            *(("--bootstrap",) if bootstrap else ()), as_user=by,
        )  # fmt: skip
        m = re.search(r"secret: (\w+)", out)
        if m:
            self.secrets[name] = m.group(1)
        code = ["--totp", pyotp.TOTP(self.secrets[name]).now()] if name in self.secrets else []
        self.ok("login", name, "--password-file", str(self.pw), *code, as_user=name)

    @property
    def db(self) -> AccessDB:
        return AccessDB(self.root / "data")


def make_dept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dept]:
    """For a module fixture: the chief (admin), a manager, an investigator, an auditor and an officer, logged in."""
    saved = os.environ.get("ALPR_TOKEN_FILE")
    cheap = pytest.MonkeyPatch()  # real argon2 with a small cost, for speed
    cheap.setattr(users, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    d = Dept(tmp_path_factory.mktemp("dept"))
    d.add("boss", "admin", by="none", bootstrap=True)
    for name, role in (("mgr", "manager"), ("inv", "investigator"), ("aud", "auditor")):
        d.add(name, role)
    d.add("ofc", "officer")
    yield d
    cheap.undo()
    if saved is None:
        os.environ.pop("ALPR_TOKEN_FILE", None)
    else:
        os.environ["ALPR_TOKEN_FILE"] = saved


class Cells(HTMLParser):
    """Text of every element with an id, and every table's rows as lists of cell texts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.by_id: dict[str, str] = {}
        self.tables: dict[str, list[list[str]]] = {}
        self._open: list[tuple[str, str | None]] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        ident = dict(attrs).get("id")
        if tag == "table":
            self._table = ident
            self.tables.setdefault(ident or "", [])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = []
        if tag not in ("br", "meta", "img", "input", "hr", "link"):
            self._open.append((tag, ident))
            if ident:
                self.by_id[ident] = ""

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables.setdefault(self._table or "", []).append(self._row)
            self._row = None
        while self._open:
            t, _ = self._open.pop()
            if t == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        for _, ident in self._open:
            if ident:
                self.by_id[ident] += data

    def text(self, ident: str) -> str:
        return " ".join(self.by_id[ident].split())
