"""A small department for workflow tests: a config with an MOU registry, a use policy and sites in
every status; the standard team of logged-in users; reads in a real store."""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from access_helpers import CHEAP_HASHER, standard_team
from gateway_helpers import write_secret

from gateway.access import users
from gateway.access.db import AccessDB
from gateway.config import load
from gateway.store import Store

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


class Dept:
    """The config, its store, and the standard logged-in team (tests/access_helpers.py)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        write_secret(root, "cam-01.key", "secret-one")
        write_secret(root, "cam-02.key", "secret-two")
        self.config = root / "alpr.toml"
        self.config.write_text(CONFIG)
        data_dir = load(self.config).data_dir
        self.store = Store(data_dir)
        self.team = standard_team(data_dir, root / "tokens")

    def run(self, *args: str, as_user: str | None = None) -> tuple[int, str, str]:
        """`alpr ARGS --config F` in this process as a user; (exit status, stdout, stderr)."""
        return self.team.cli(*args[:2], "--config", str(self.config), *args[2:], user=as_user)

    def ok(self, *args: str, as_user: str | None = None) -> str:
        code, out, err = self.run(*args, as_user=as_user)
        assert code == 0, err
        return out

    @property
    def db(self) -> AccessDB:
        return self.team.db


def make_dept(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dept]:
    """For a module fixture: the chief (boss, admin), mgr, inv, aud, tech and ofc, logged in."""
    cheap = pytest.MonkeyPatch()
    cheap.setattr(users, "HASHER", CHEAP_HASHER)
    try:
        yield Dept(tmp_path_factory.mktemp("dept"))
    finally:
        cheap.undo()


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
