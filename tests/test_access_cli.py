"""`alpr users`, `alpr login` and `alpr audit` as a department uses them: bootstrap, logins with a
second factor, refusals by role and by lapsed training, the annual sample and its report."""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import os
import re
import stat
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher

from cloud.storage import FileTarget
from gateway.access import audit, users
from gateway.access.db import AccessDB
from gateway.retention import purge_record
from gateway.store import Store
from tools.cli import main

PASSWORD = "correct horse battery"


class Site:
    """A config, a password file and one token file per user."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "alpr.toml"
        self.config.write_text('[agency]\nname = "Test PD"\n[gateway]\ndata_dir = "data"\n')
        self.pw = root / "pw"
        self.pw.write_text(PASSWORD + "\n")
        self.secrets: dict[str, str] = {}

    def run(self, *args: str, as_user: str | None = None) -> tuple[int, str, str]:
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

    def add(self, name: str, *roles: str, by: str = "boss", extra: tuple[str, ...] = ()) -> None:
        flags = [x for r in roles for x in ("--role", r)]
        out = self.ok(
            "users",
            "add",
            name,
            *flags,
            "--trained-on",
            "2026-01-01",
            "--training-expires",
            later(200),
            "--password-file",
            str(self.pw),
            *extra,
            as_user=by,
        )
        m = re.search(r"secret: (\w+)", out)
        if m:
            self.secrets[name] = m.group(1)

    def login(self, name: str) -> None:
        code = ["--totp", pyotp.TOTP(self.secrets[name]).now()] if name in self.secrets else []
        self.ok("login", name, "--password-file", str(self.pw), *code, as_user=name)

    @property
    def db(self) -> AccessDB:
        return AccessDB(self.root / "data")


def later(days: int) -> str:
    return (dt.datetime.now(dt.UTC).date() + dt.timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """An admin, an auditor, a technician and an officer whose training lapsed after login."""
    saved = os.environ.get("ALPR_TOKEN_FILE")
    cheap = pytest.MonkeyPatch()  # real argon2 with a small cost, for speed
    cheap.setattr(users, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    s = Site(tmp_path_factory.mktemp("site"))
    s.add("boss", "admin", extra=("--bootstrap",), by="none")
    s.login("boss")
    s.add("aud", "auditor")
    s.add("tech", "technician")
    s.add("ofc", "officer")
    s.login("aud")
    s.login("tech")
    s.login("ofc")
    s.ok("users", "train", "ofc", "--on", "2024-01-01", "--expires", "2025-01-01", as_user="boss")
    yield s
    cheap.undo()
    if saved is None:
        os.environ.pop("ALPR_TOKEN_FILE", None)
    else:
        os.environ["ALPR_TOKEN_FILE"] = saved


def test_bootstrap_only_while_no_user_exists(site: Site) -> None:
    code, _, err = site.run(
        "users",
        "add",
        "eve",
        "--role",
        "admin",
        "--bootstrap",
        "--trained-on",
        "2026-01-01",
        "--password-file",
        str(site.pw),
    )
    assert code == 2 and "users exist already" in err
    assert "eve" not in site.ok("users", "list", as_user="boss")


def test_token_file_is_private_and_whoami_reads_it(site: Site) -> None:
    mode = stat.S_IMODE((site.root / "token-boss").stat().st_mode)
    assert mode == 0o600
    me = json.loads(site.ok("whoami", as_user="boss"))
    assert me["name"] == "boss" and me["roles"] == ["admin"]
    code, _, err = site.run("whoami", as_user="nobody")
    assert code != 0 and "not logged in" in err


def test_login_failures_are_audited_and_lock(site: Site, tmp_path: Path) -> None:
    site.add("lock", "officer")
    bad = tmp_path / "bad"
    bad.write_text("not the password at all\n")
    for _ in range(5):
        code, _, err = site.run("login", "lock", "--password-file", str(bad), as_user="lock")
        assert code == 2 and "wrong name, password or code" in err
    code, _, err = site.run("login", "lock", "--password-file", str(site.pw), as_user="lock")
    assert code == 2 and "locked until" in err
    site.ok("users", "enable", "lock", as_user="boss")  # an admin opens it again
    site.login("lock")
    actions = [r["action"] for r in audit.records(site.db, user="lock")]
    assert actions.count("login failed") == 6 and "account locked" in actions
    assert actions[-1] == "login"


def test_investigator_cannot_log_in_without_the_code(site: Site) -> None:
    site.add("inv", "investigator")
    assert "inv" in site.secrets
    code, _, err = site.run("login", "inv", "--password-file", str(site.pw), as_user="inv")
    assert code == 2 and "TOTP code is needed" in err
    site.login("inv")
    assert json.loads(site.ok("whoami", as_user="inv"))["roles"] == ["investigator"]


REFUSABLE = [
    ("users", "add", "x1", "--role", "officer"),
    ("users", "disable", "ofc"),
    ("users", "enable", "ofc"),
    ("users", "roles", "ofc", "--role", "officer"),
    ("users", "sites", "ofc", "--site", "s1"),
    ("users", "train", "ofc", "--on", "2026-01-01"),
    ("users", "passwd", "boss"),
    ("users", "totp", "ofc"),
    ("users", "token", "ofc"),
    ("users", "list"),
    ("users", "settings"),
    ("audit", "verify"),
    ("audit", "log", "--from", "2026-01-01", "--to", "2027-01-01"),
    ("audit", "head"),
    ("audit", "purge"),
    ("audit", "sample", "--from", "2026-01-01", "--to", "2027-01-01"),
    ("audit", "finding", "1", "--verdict", "proper", "--note", "ok"),
    ("audit", "data-error", "--ref", "r1", "--error", "e", "--correction", "c"),
    ("audit", "report", "--out", "/dev/null"),
]


@pytest.mark.parametrize("command", REFUSABLE, ids=lambda c: " ".join(c[:2]))
def test_every_command_is_refused_without_the_role(site: Site, command: tuple[str, ...]) -> None:
    code, _, err = site.run(*command, as_user="tech")
    assert code != 0 and "refused" in err and "tech (technician) may not" in err, err
    last = list(audit.records(site.db, user="tech"))[-1]
    assert last["kind"] == "denied" and last["action"] == "denied"


@pytest.mark.parametrize("command", [*REFUSABLE, ("whoami",)], ids=lambda c: " ".join(c[:2]))
def test_every_command_is_refused_with_lapsed_training(
    site: Site, command: tuple[str, ...]
) -> None:
    code, _, err = site.run(*command, as_user="ofc")
    assert code != 0 and "training is not current" in err, err


def test_admin_changes_users_and_settings(site: Site) -> None:
    site.add("mgr", "manager")
    user = json.loads(site.ok("users", "disable", "mgr", as_user="boss"))
    assert user["enabled"] is False
    out = site.ok(
        "users", "roles", "tech", "--role", "technician", "--role", "officer", as_user="boss"
    )
    assert json.loads(out.splitlines()[0])["roles"] == ["officer", "technician"]
    out = site.ok("users", "settings", "--set", "history_role=manager", as_user="boss")
    assert json.loads(out)["history_role"] == "manager"
    code, _, err = site.run("users", "settings", "--set", "history_role=chief", as_user="boss")
    assert code == 2 and "unknown role 'chief'" in err
    site.ok("users", "settings", "--set", "history_role=investigator", as_user="boss")
    token = site.ok("users", "token", "tech", "--role", "officer", as_user="boss").strip()
    assert token.startswith("alpr_")
    stored = site.db.connect().execute("SELECT token_sha256 FROM sessions").fetchall()
    assert all(token not in r[0] for r in stored)
    changes = [r["action"] for r in audit.records(site.db, user="boss", kinds=["user"])]
    assert {"user add", "user disable", "user roles", "settings", "user token"} <= set(changes)


class Cells(HTMLParser):
    """The sampled record numbers in the report's table of items."""

    def __init__(self) -> None:
        super().__init__()
        self.seqs: list[int] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "tr" and a.get("class") == "item":
            self.seqs.append(int(a["data-seq"] or 0))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_annual_sample_findings_and_report(site: Site, tmp_path: Path) -> None:
    db = site.db
    for i in range(30):
        audit.append(
            db,
            "inv",
            "reads list",
            kind="inquiry",
            why=f"case 26-{i:04d}",
            what={"plate": f"P{i}"},
            source="cli:test",
            result_count=i,
        )
    start, end = "2026-01-01", later(1)
    args = (
        "audit",
        "sample",
        "--from",
        start,
        "--to",
        end,
        "--n",
        "10",
        "--seed",
        "S-2026",
        "--json",
    )
    first = json.loads(site.ok(*args, as_user="aud"))
    second = json.loads(site.ok(*args, as_user="aud"))
    seqs = [i["audit_seq"] for i in first["items"]]
    assert len(seqs) == 10 and seqs == [i["audit_seq"] for i in second["items"]]
    assert first["seed"] == "S-2026" and first["population"] >= 30
    other = json.loads(site.ok(*args[:-3], "--seed", "another", "--json", as_user="aud"))
    assert [i["audit_seq"] for i in other["items"]] != seqs
    # only inquiries are drawn
    kinds = {r["seq"]: r["kind"] for r in audit.records(db)}
    assert all(kinds[s] == "inquiry" for s in seqs)

    item = first["items"][0]["id"]
    site.ok(
        "audit",
        "finding",
        str(item),
        "--verdict",
        "improper",
        "--note",
        "no case <b>open</b>",
        as_user="aud",
    )
    site.ok(
        "audit",
        "data-error",
        "--ref",
        "read r-17",
        "--error",
        "8 read as B",
        "--correction",
        "hit closed as misread",
        "--sample",
        str(first["id"]),
        as_user="aud",
    )
    out = tmp_path / "audit.html"
    site.ok("audit", "report", "--out", str(out), "--sample", str(first["id"]), as_user="aud")
    html = out.read_text()
    cells = Cells()
    cells.feed(html)
    assert cells.seqs == seqs
    text = " ".join(cells.text)
    assert "improper" in text and "no case <b>open</b>" in text  # escaped, shown as written
    assert "8 read as B" in text and "hit closed as misread" in text
    assert 'data-ok="yes"' in html and "S-2026" in html
    assert "Not run." not in text and "Sign-off" in text
    code, _, err = site.run(
        "audit", "finding", "99999", "--verdict", "proper", "--note", "x", as_user="aud"
    )
    assert code == 2 and "no sample item 99999" in err


def test_audit_verify_and_head_from_the_command_line(site: Site, tmp_path: Path) -> None:
    heads = f"file://{tmp_path / 'heads'}"
    site.ok("audit", "head", "--write", heads, as_user="boss")
    out = site.ok("audit", "verify", "--heads", heads, as_user="aud")
    assert "verifies" in out and "1 exported heads matched" in out
    conn = site.db.connect()
    why = conn.execute("SELECT why FROM audit WHERE seq = 3").fetchone()[0]
    conn.execute("UPDATE audit SET why = 'edited' WHERE seq = 3")
    code, _, err = site.run("audit", "verify", as_user="aud")
    conn.execute("UPDATE audit SET why = ? WHERE seq = 3", (why,))
    assert code == 1 and "record 3" in err
    assert "verifies" in site.ok("audit", "verify", as_user="aud")
    rows = json.loads(
        "["
        + ",".join(
            site.ok(
                "audit",
                "log",
                "--from",
                "2026-01-01",
                "--to",
                later(1),
                "--user",
                "aud",
                "--json",
                as_user="aud",
            ).splitlines()
        )
        + "]"
    )
    assert rows and all(r["user"] == "aud" for r in rows)


class Sections(HTMLParser):
    """Attributes of the report's elements that have an id, and the text of each list item."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, dict[str, str | None]] = {}
        self.items: list[str] = []
        self.text: list[str] = []
        self._li = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids[str(a["id"])] = a
        if tag == "li":
            self._li = True
            self.items.append("")

    def handle_endtag(self, tag: str) -> None:
        self._li = self._li and tag != "li"

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._li:
            self.items[-1] += data


def report(site: Site, out: Path) -> Sections:
    site.ok("audit", "report", "--out", str(out), as_user="aud")
    parsed = Sections()
    parsed.feed(out.read_text())
    return parsed


def test_report_runs_retention_and_integrity_checks_on_the_storage(
    site: Site, tmp_path: Path
) -> None:
    saved = site.config.read_text()
    store_dir = tmp_path / "bucket"
    site.config.write_text(saved + f'[storage]\ntarget = "file://{store_dir}"\n')
    try:
        site.ok("audit", "sample", "--from", "2026-01-01", "--to", later(1), as_user="aud")
        now = dt.datetime.now(dt.UTC).timestamp()
        store = Store(site.root / "data")
        purge_record(store, "past agency retention", [{"id": 7, "captured": now - 40 * 86400}])
        purge_record(
            store,
            "synced, past local retention",
            [{"id": i, "captured": now - i * 86400} for i in (3, 1, 2)],
        )
        store.connect().execute(  # before the audit period: not in this report
            "INSERT INTO purge_log (at, reason, count, ids_sha256) VALUES (?,?,?,?)",
            (dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp(), "old", 50, "0" * 64),
        )
        target = FileTarget(store_dir)
        day = dt.datetime.fromtimestamp(now - 45 * 86400, dt.UTC).date().isoformat()
        late_key = f"reads/dt={day}/site=s1/camera=c/late.json"
        target.put(late_key, b"{}", {"captured": repr(now - 45 * 86400)})
        site.ok("audit", "head", "--write", f"file://{store_dir}", as_user="boss")

        r = report(site, tmp_path / "a.html")
        assert r.ids["retention"]["data-compliant"] == "no"
        assert any(late_key in i for i in r.items)
        assert r.ids["purges"]["data-purges"] == "2" and r.ids["purges"]["data-deleted"] == "4"
        text = " ".join(r.text)
        for ids in ([7], [1, 2, 3]):
            digest = hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()
            assert digest in text
        # a folder has no lifecycle rules until `cloud init` writes them: that is drift
        assert r.ids["cloud"]["data-drift"] == "1"
        assert "all 1 heads" in text

        site.ok("cloud", "init", as_user="boss")
        target.delete(late_key)
        r = report(site, tmp_path / "b.html")
        assert r.ids["retention"]["data-compliant"] == "yes"
        assert r.ids["cloud"]["data-drift"] == "0" and "no drift" in " ".join(r.text)

        blocked = tmp_path / "not-a-folder"
        blocked.write_text("")
        site.config.write_text(saved + f'[storage]\ntarget = "file://{blocked}"\n')
        r = report(site, tmp_path / "c.html")
        text = " ".join(r.text)
        assert r.ids["retention"]["data-compliant"] == "unknown"
        assert r.ids["cloud"]["data-drift"] == "unknown"
        assert "could not be checked" in text and "FileExistsError" in text
    finally:
        site.config.write_text(saved)
